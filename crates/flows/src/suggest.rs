//! "Did you mean …?": the nearest of some names to a mistyped one.

/// The nearest of `names` to `typed`, when it is near enough (at most 4 edits).
pub fn closest<'a>(typed: &str, names: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    names
        .into_iter()
        .map(|name| (strsim::levenshtein(typed, name), name))
        .filter(|(d, _)| *d <= 4)
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_nearest_name_within_four_edits() {
        let names = [
            "zoho-books.invoice.create",
            "zoho-books.invoice.void",
            "map",
        ];
        assert_eq!(
            closest("zoho-books.invoice.creat", names),
            Some("zoho-books.invoice.create")
        );
        assert_eq!(closest("mop", names), Some("map"));
        assert_eq!(closest("something else entirely", names), None);
    }
}
