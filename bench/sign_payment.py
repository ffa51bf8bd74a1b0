#!/usr/bin/env python3
"""Writes a wrk Lua script that POSTs one signed Cybersource payment (HTTP Signature, reference
§2.1) to the sandbox. The request may be replayed: the sandbox's duplicate checks are off for
requests without a transactionId, and the Date stays valid for the clock-skew window (15 min).

Usage: sign_payment.py HOST:PORT > payment.lua ; wrk -s payment.lua http://HOST:PORT/
"""
import base64, hashlib, hmac, sys
from email.utils import formatdate

host = sys.argv[1]
merchant = "test_merchant"
key_id = "11111111-2222-3333-4444-555555555555"
secret = base64.b64decode("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
body = ('{"clientReferenceInformation":{"code":"BENCH-1"},"processingInformation":{"capture":true},'
        '"paymentInformation":{"card":{"number":"4111111111111111","expirationMonth":"12","expirationYear":"2031"}},'
        '"orderInformation":{"amountDetails":{"totalAmount":"102.21","currency":"USD"},'
        '"billTo":{"firstName":"John","lastName":"Doe","address1":"1 Market St","locality":"San Francisco",'
        '"administrativeArea":"CA","postalCode":"94105","country":"US","email":"test@example.com"}}}')
date = formatdate(usegmt=True)
digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
signing = "\n".join([f"host: {host}", f"date: {date}", "request-target: post /pts/v2/payments",
                     f"digest: {digest}", f"v-c-merchant-id: {merchant}"])
sig = base64.b64encode(hmac.new(secret, signing.encode(), hashlib.sha256).digest()).decode()
signature = (f'keyid="{key_id}", algorithm="HmacSHA256", '
             f'headers="host date request-target digest v-c-merchant-id", signature="{sig}"')
print('wrk.method = "POST"')
print(f'wrk.path = "/pts/v2/payments"')
print(f"wrk.body = '{body}'")
for name, value in [("Content-Type", "application/json"), ("Host", host), ("Date", date),
                    ("Digest", digest), ("v-c-merchant-id", merchant), ("Signature", signature)]:
    print(f"wrk.headers[\"{name}\"] = '{value}'")
