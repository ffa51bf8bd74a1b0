//! Vendor enums that never fail on a value the vendor adds later.
//!
//! Cybersource and Zoho add statuses and reasons without notice (the official Cybersource Python
//! SDK once crashed on an undocumented `REJECT`). [`open_enum!`](crate::open_enum) declares an enum
//! of the documented values plus `Unknown(String)`, with lossless text and serde conversions.

/// Declares an enum of known wire values plus `Unknown(String)`.
///
/// ```
/// paybridge_model::open_enum! {
///     /// A colour.
///     pub enum Colour { Red = "RED", Green = "GREEN" }
/// }
/// assert_eq!(Colour::from("RED"), Colour::Red);
/// assert_eq!(Colour::from("MAUVE"), Colour::Unknown("MAUVE".into()));
/// assert_eq!(Colour::Unknown("MAUVE".into()).as_str(), "MAUVE");
/// ```
#[macro_export]
macro_rules! open_enum {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident { $( $(#[$vmeta:meta])* $variant:ident = $wire:literal ),+ $(,)? }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        $vis enum $name {
            $( $(#[$vmeta])* $variant, )+
            /// A value this version of paybridge does not know yet, kept verbatim.
            Unknown(String),
        }

        impl $name {
            /// The value exactly as the vendor writes it.
            pub fn as_str(&self) -> &str {
                match self {
                    $( $name::$variant => $wire, )+
                    $name::Unknown(other) => other.as_str(),
                }
            }
        }

        impl ::std::convert::From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => $name::$variant, )+
                    other => $name::Unknown(other.to_string()),
                }
            }
        }

        impl ::std::convert::From<String> for $name {
            fn from(value: String) -> Self {
                $name::from(value.as_str())
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as ::serde::Deserialize>::deserialize(d)?;
                Ok($name::from(text))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::open_enum! {
        enum Status { Authorized = "AUTHORIZED", Declined = "DECLINED" }
    }

    #[test]
    fn unknown_values_survive_a_round_trip() {
        let parsed: Vec<Status> =
            serde_json::from_str(r#"["AUTHORIZED","DECLINED","REJECT"]"#).unwrap();
        assert_eq!(
            parsed,
            [
                Status::Authorized,
                Status::Declined,
                Status::Unknown("REJECT".into())
            ]
        );
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            r#"["AUTHORIZED","DECLINED","REJECT"]"#
        );
    }
}
