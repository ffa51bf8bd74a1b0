-- Orders by their Zoho Books invoice: a credit note made in Books names the invoice it is for.
CREATE INDEX orders_zoho_invoice ON orders (zoho_invoice_id);
