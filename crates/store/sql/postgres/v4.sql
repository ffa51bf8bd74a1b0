-- Orders by their Zoho Books invoice (the SQLite store's version 6).
CREATE INDEX orders_zoho_invoice ON orders (zoho_invoice_id);
