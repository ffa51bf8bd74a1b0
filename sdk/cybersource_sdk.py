"""The official Cybersource Python SDK (cybersource-rest-client-python) against the sandbox.

A merchant's developer points the SDK at the sandbox with `IntermediateHost` (the SDK signs for
`run_environment` and sends to this host instead). Each scenario calls the SDK as its samples do
and checks that the answer parsed into the SDK's own model with the right values.

Usage: python cybersource_sdk.py   (environment: SANDBOX_URL, MERCHANT_ID, KEY_ID, SECRET)
Prints one line per check and, last, a JSON summary; exits 1 if any check failed.
"""

import json
import os
import sys
import traceback
import uuid
import warnings

warnings.filterwarnings("ignore")

import CyberSource as cs  # noqa: E402
from CyberSource.rest import ApiException  # noqa: E402

CONFIG = {
    "authentication_type": "http_signature",
    "merchantid": os.environ["MERCHANT_ID"],
    "run_environment": "apitest.cybersource.com",
    "merchant_keyid": os.environ["KEY_ID"],
    "merchant_secretkey": os.environ["SECRET"],
    # The SDK builds https:// + run_environment; IntermediateHost sends elsewhere.
    "IntermediateHost": os.environ["SANDBOX_URL"].rstrip("/"),
    "enable_log": "false",
}

RESULTS = []


def check(name, condition, detail=""):
    RESULTS.append({"check": name, "ok": bool(condition), "detail": "" if condition else str(detail)})
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))


def body(model):
    """The request as the SDK's samples pass it: a JSON string with the models' snake_case
    attribute names, which the SDK turns into the wire's camelCase itself."""

    def convert(value):
        if hasattr(value, "swagger_types"):
            return {
                k: convert(getattr(value, k))
                for k in value.swagger_types
                if getattr(value, k) is not None
            }
        if isinstance(value, list):
            return [convert(v) for v in value]
        return value

    return json.dumps(convert(model))


def scenario(function):
    """Runs one scenario; an exception is a failed check, with the vendor's answer."""
    try:
        function()
    except ApiException as e:
        check(function.__name__, False, f"HTTP {e.status}: {e.body}")
    except Exception as e:  # noqa: BLE001
        check(function.__name__, False, "".join(traceback.format_exception_only(e)).strip())
    return function


def fresh_visa():
    """A Visa number no earlier run used (Luhn-valid), so that its identifier is new."""
    import random

    digits = [4] + [random.randrange(10) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    return "".join(map(str, digits)) + str((10 - total % 10) % 10)


def card(number="4111111111111111"):
    return cs.Ptsv2paymentsPaymentInformation(
        card=cs.Ptsv2paymentsPaymentInformationCard(
            number=number, expiration_month="12", expiration_year="2031"
        )
    )


def bill_to(email="test@cybs.com"):
    return cs.Ptsv2paymentsOrderInformationBillTo(
        first_name="John",
        last_name="Doe",
        address1="1 Market St",
        locality="san francisco",
        administrative_area="CA",
        postal_code="94105",
        country="US",
        email=email,
    )


def payment(amount, capture=False, number="4111111111111111", email="test@cybs.com", currency="USD"):
    request = cs.CreatePaymentRequest(
        client_reference_information=cs.Ptsv2paymentsClientReferenceInformation(
            code="SDK-" + uuid.uuid4().hex[:12]
        ),
        processing_information=cs.Ptsv2paymentsProcessingInformation(capture=capture),
        payment_information=card(number),
        order_information=cs.Ptsv2paymentsOrderInformation(
            amount_details=cs.Ptsv2paymentsOrderInformationAmountDetails(
                total_amount=amount, currency=currency
            ),
            bill_to=bill_to(email),
        ),
    )
    data, status, _ = cs.PaymentsApi(CONFIG).create_payment(body(request))
    return data, status


def amount_only(amount, model_client, model_order, model_amount):
    return dict(
        client_reference_information=model_client(code="SDK-" + uuid.uuid4().hex[:12]),
        order_information=model_order(
            amount_details=model_amount(total_amount=amount, currency="USD")
        ),
    )


def capture(payment_id, amount):
    """Captures `amount` of an authorization: the SDK's (data, status, headers)."""
    request = cs.CapturePaymentRequest(
        **amount_only(
            amount,
            cs.Ptsv2paymentsClientReferenceInformation,
            cs.Ptsv2paymentsidcapturesOrderInformation,
            cs.Ptsv2paymentsidcapturesOrderInformationAmountDetails,
        )
    )
    return cs.CaptureApi(CONFIG).capture_payment(body(request), payment_id)


@scenario
def an_authorization_parses_as_authorized():
    data, status = payment("102.21")
    check("authorization: 201", status == 201, status)
    check("authorization: a PtsV2PaymentsPost201Response", isinstance(data, cs.PtsV2PaymentsPost201Response), type(data))
    check("authorization: AUTHORIZED", data.status == "AUTHORIZED", data.status)
    check("authorization: an id", bool(data.id), data.id)
    check(
        "authorization: the amount authorized",
        data.order_information.amount_details.authorized_amount == "102.21",
        data.order_information,
    )
    check("authorization: response code 100", data.processor_information.response_code == "100", data.processor_information)
    check("authorization: a self link", data.links._self.href.endswith(data.id), data.links)


@scenario
def a_decline_carries_the_processor_code_of_its_trigger():
    data, status = payment("2051.00")
    check("decline: 201 DECLINED", (status, data.status) == (201, "DECLINED"), (status, data.status))
    check("decline: INSUFFICIENT_FUND", data.error_information.reason == "INSUFFICIENT_FUND", data.error_information)
    # The processor's own code: the trigger's last two digits, the same in the details.
    check("decline: processor code 51", data.processor_information.response_code == "51", data.processor_information)
    details, _, _ = cs.TransactionDetailsApi(CONFIG).get_transaction(data.id)
    check(
        "decline: processor code 51 in the details",
        details.processor_information.response_code == "51",
        details.processor_information,
    )


@scenario
def maestro_test_cards_are_typed_maestro():
    # 042 Maestro (international), 024 Maestro (UK domestic).
    for number, expected in [
        ("50339619890917", "042"),
        ("586824160825533338", "042"),
        ("6759411100000008", "024"),
    ]:
        data, _ = payment("12.00", number=number)
        details, _, _ = cs.TransactionDetailsApi(CONFIG).get_transaction(data.id)
        kind = details.payment_information.card.type if details.payment_information.card else None
        check(f"Maestro {number[:6]}: type {expected}", kind == expected, kind)


@scenario
def a_currency_that_is_not_iso_4217_is_refused():
    try:
        payment("10.00", currency="XYZ")
        check("currency XYZ: refused", False, "accepted")
    except ApiException as e:
        answer = json.loads(e.body)
        check("currency XYZ: 400 INVALID_DATA", (e.status, answer.get("reason")) == (400, "INVALID_DATA"), e.body)
        fields = [d.get("field") for d in answer.get("details", [])]
        check("currency XYZ: the field named", "orderInformation.amountDetails.currency" in fields, e.body)


@scenario
def an_authorization_captured_cannot_be_voided_through_its_own_id():
    auth, _ = payment("33.00")
    capture(auth.id, "33.00")
    void = cs.VoidPaymentRequest(
        client_reference_information=cs.Ptsv2paymentsidreversalsClientReferenceInformation(code="SDK-void")
    )
    try:
        data, _, _ = cs.VoidApi(CONFIG).void_payment(body(void), auth.id)
        check("void of a captured authorization: refused", False, f"answered {data.status}")
    except ApiException as e:
        answer = json.loads(e.body)
        check("void of a captured authorization: 400 NOT_VOIDABLE", (e.status, answer.get("reason")) == (400, "NOT_VOIDABLE"), e.body)


@scenario
def a_sale_is_captured_then_refunded_and_the_refund_voided():
    sale, _ = payment("50.00", capture=True)
    check("sale: AUTHORIZED", sale.status == "AUTHORIZED", sale.status)
    refund = cs.RefundPaymentRequest(
        **amount_only(
            "20.00",
            cs.Ptsv2paymentsClientReferenceInformation,
            cs.Ptsv2paymentsidrefundsOrderInformation,
            cs.Ptsv2paymentsidcapturesOrderInformationAmountDetails,
        )
    )
    data, status, _ = cs.RefundApi(CONFIG).refund_payment(body(refund), sale.id)
    check("refund: 201 PENDING", (status, data.status) == (201, "PENDING"), (status, data.status))
    check(
        "refund: the amount",
        data.refund_amount_details.refund_amount == "20.00",
        data.refund_amount_details,
    )
    void = cs.VoidRefundRequest(
        client_reference_information=cs.Ptsv2paymentsidreversalsClientReferenceInformation(code="SDK-void")
    )
    data, status, _ = cs.VoidApi(CONFIG).void_refund(body(void), data.id)
    check("void of the refund: 201 VOIDED", (status, data.status) == (201, "VOIDED"), (status, data.status))


@scenario
def an_authorization_is_captured_and_the_capture_refunded():
    auth, _ = payment("80.00")
    data, status, _ = capture(auth.id, "80.00")
    check("capture: 201 PENDING", (status, data.status) == (201, "PENDING"), (status, data.status))
    check(
        "capture: the amount",
        data.order_information.amount_details.total_amount == "80.00",
        data.order_information,
    )
    refund = cs.RefundCaptureRequest(
        **amount_only(
            "30.00",
            cs.Ptsv2paymentsClientReferenceInformation,
            cs.Ptsv2paymentsidrefundsOrderInformation,
            cs.Ptsv2paymentsidcapturesOrderInformationAmountDetails,
        )
    )
    data, status, _ = cs.RefundApi(CONFIG).refund_capture(body(refund), data.id)
    check("refund of the capture: 201 PENDING", (status, data.status) == (201, "PENDING"), (status, data.status))


@scenario
def an_authorization_is_reversed():
    auth, _ = payment("40.00")
    reversal = cs.AuthReversalRequest(
        client_reference_information=cs.Ptsv2paymentsidreversalsClientReferenceInformation(code="SDK-rev"),
        reversal_information=cs.Ptsv2paymentsidreversalsReversalInformation(
            amount_details=cs.Ptsv2paymentsidreversalsReversalInformationAmountDetails(
                total_amount="40.00"
            ),
            reason="testing",
        ),
    )
    data, status, _ = cs.ReversalApi(CONFIG).auth_reversal(auth.id, body(reversal))
    check("reversal: 201 REVERSED", (status, data.status) == (201, "REVERSED"), (status, data.status))


@scenario
def a_credit_is_made_and_voided():
    credit = cs.CreateCreditRequest(
        client_reference_information=cs.Ptsv2paymentsClientReferenceInformation(code="SDK-credit"),
        payment_information=cs.Ptsv2paymentsidrefundsPaymentInformation(
            card=cs.Ptsv2paymentsidrefundsPaymentInformationCard(
                number="4111111111111111", expiration_month="12", expiration_year="2031"
            )
        ),
        order_information=cs.Ptsv2paymentsidrefundsOrderInformation(
            amount_details=cs.Ptsv2paymentsidcapturesOrderInformationAmountDetails(
                total_amount="15.00", currency="USD"
            ),
            bill_to=cs.Ptsv2paymentsidcapturesOrderInformationBillTo(
                first_name="John", last_name="Doe", address1="1 Market St", locality="san francisco",
                administrative_area="CA", postal_code="94105", country="US", email="test@cybs.com",
            ),
        ),
    )
    data, status, _ = cs.CreditApi(CONFIG).create_credit(body(credit))
    check("credit: 201 PENDING", (status, data.status) == (201, "PENDING"), (status, data.status))
    check("credit: the amount", data.credit_amount_details.credit_amount == "15.00", data.credit_amount_details)


@scenario
def a_transaction_is_read_back_and_found_by_search():
    auth, _ = payment("61.00")
    data, status, _ = cs.TransactionDetailsApi(CONFIG).get_transaction(auth.id)
    check("details: 200", status == 200, status)
    check("details: the id", data.id == auth.id, data.id)
    check(
        "details: the amount",
        data.order_information.amount_details.total_amount == "61.00",
        data.order_information.amount_details,
    )
    check(
        "details: the merchant reference",
        data.client_reference_information.code == auth.client_reference_information.code,
        data.client_reference_information,
    )
    search = cs.CreateSearchRequest(
        save=False,
        name="by reference",
        timezone="UTC",
        query=f"clientReferenceInformation.code:{auth.client_reference_information.code}",
        offset=0,
        limit=10,
        sort="id:asc,submitTimeUtc:asc",
    )
    data, status, _ = cs.SearchTransactionsApi(CONFIG).create_search(body(search))
    check("search: 201", status == 201, status)
    check("search: one found", data.total_count == 1, data.total_count)
    summaries = data.embedded.transaction_summaries if data.embedded else []
    check("search: the transaction", [s.id for s in summaries] == [auth.id], summaries)


@scenario
def a_tms_customer_is_created_and_read():
    customer = cs.PostCustomerRequest(
        buyer_information=cs.Tmsv2tokenizeTokenInformationCustomerBuyerInformation(
            merchant_customer_id="sdk-" + uuid.uuid4().hex[:8], email="test@cybs.com"
        ),
        client_reference_information=cs.Tmsv2tokenizeTokenInformationCustomerClientReferenceInformation(code="SDK-tms"),
    )
    data, status, _ = cs.CustomerApi(CONFIG).post_customer(body(customer))
    check("TMS customer: 201", status == 201, status)
    check("TMS customer: an id", bool(data.id), data)
    read, status, _ = cs.CustomerApi(CONFIG).get_customer(data.id)
    check("TMS customer read: 200", status == 200, status)
    check("TMS customer read: the e-mail", read.buyer_information.email == "test@cybs.com", read.buyer_information)


@scenario
def webhook_products_and_subscriptions_are_listed():
    data, status, _ = cs.CreateNewWebhooksApi(CONFIG).find_products_to_subscribe(CONFIG["merchantid"])
    check("webhook products: 200", status == 200, status)
    check("webhook products: some", len(data or []) > 0, data)
    data, status, _ = cs.ManageWebhooksApi(CONFIG).get_webhook_subscriptions_by_org(CONFIG["merchantid"])
    check("webhook subscriptions: 200", status == 200, status)


@scenario
def a_webhook_subscription_takes_the_sdks_string_deactivate_flag():
    key = cs.SaveSymEgressKey(
        client_request_action="CREATE",
        key_information=cs.Kmsegressv2keyssymKeyInformation(
            provider="nrtd",
            tenant="nrtd",
            key_type="sharedSecret",
            organization_id=CONFIG["merchantid"],
        ),
    )
    created, status, _ = cs.CreateNewWebhooksApi(CONFIG).save_sym_egress_key(
        v_c_sender_organization_id=CONFIG["merchantid"],
        v_c_permissions="MerchantKeyManagement",
        save_sym_egress_key=body(key),
    )
    check("signing key: 201", status == 201, status)
    key_id = created.key_information.key_id
    check("signing key: an id", bool(key_id), created)
    webhook = cs.CreateWebhook(
        name="sdk",
        description="the SDK's own subscription",
        organization_id=CONFIG["merchantid"],
        products=[
            cs.Notificationsubscriptionsv2webhooksProducts1(
                product_id="payments", event_types=["payments.capture.status.accepted"]
            )
        ],
        webhook_url="https://127.0.0.1:9/hooks",
        retry_policy=cs.Notificationsubscriptionsv2webhooksRetryPolicy(
            algorithm="ARITHMETIC", first_retry=1, interval=1, number_of_retries=3, deactivate_flag="false"
        ),
        security_policy=cs.Notificationsubscriptionsv2webhooksSecurityPolicy(
            security_type="KEY",
            # The SDK's model has no config.keyId: it carries the key in additionalConfig.
            config=cs.Notificationsubscriptionsv2webhooksSecurityPolicyConfig(
                additional_config=cs.Notificationsubscriptionsv2webhooksSecurityPolicyConfigAdditionalConfig(
                    key_id=key_id
                ),
            ),
        ),
    )
    data, status, _ = cs.CreateNewWebhooksApi(CONFIG).notification_subscriptions_v2_webhooks_post(
        create_webhook=body(webhook)
    )
    check("webhook subscription: 201", status == 201, status)
    check("webhook subscription: an id", bool(data.webhook_id), data)
    read, status, _ = cs.ManageWebhooksApi(CONFIG).get_webhook_subscription_by_id(data.webhook_id)
    check("webhook subscription read: 200", status == 200, status)


@scenario
def a_timeout_reversal_names_itself_in_its_link():
    reversal = cs.MitReversalRequest(
        client_reference_information=cs.Ptsv2paymentsidreversalsClientReferenceInformation(
            code="SDK-timeout", transaction_id="sdk" + uuid.uuid4().hex[:20]
        ),
        reversal_information=cs.Ptsv2paymentsidreversalsReversalInformation(
            amount_details=cs.Ptsv2paymentsidreversalsReversalInformationAmountDetails(
                total_amount="10.00", currency="USD"
            ),
            reason="timeout",
        ),
    )
    data, status, _ = cs.ReversalApi(CONFIG).mit_reversal(body(reversal))
    check("timeout reversal: 201 REVERSED", (status, data.status) == (201, "REVERSED"), (status, data.status))
    check("timeout reversal: its link names its id", data.links._self.href.endswith("/" + data.id), (data.id, data.links))


@scenario
def a_review_case_is_decided_and_the_answer_embeds_what_it_did():
    for decision, action, kind, status in [
        ("ACCEPT", "CAPTURE", "capture", "PENDING"),
        ("REJECT", "REVERSE", "reversal", "REVERSED"),
    ]:
        held, _ = payment("70.00", email=f"dm-review-{uuid.uuid4().hex[:6]}@example.com")
        check(f"review ({decision}): AUTHORIZED_PENDING_REVIEW", held.status == "AUTHORIZED_PENDING_REVIEW", held.status)
        details, _, _ = cs.TransactionDetailsApi(CONFIG).get_transaction(held.id)
        check(
            f"review ({decision}): the details keep the approval",
            (details.processor_information.approval_code, details.processor_information.response_code) == ("888888", "100"),
            details.processor_information,
        )
        request = cs.CaseManagementActionsRequest(
            decision_information=cs.Riskv1decisionsidactionsDecisionInformation(decision=decision, comments="checked"),
            processing_information=cs.Riskv1decisionsidactionsProcessingInformation(action_list=[action]),
        )
        data, code, _ = cs.DecisionManagerApi(CONFIG).action_decision_manager_case(held.id, body(request))
        check(f"case {decision}: 201", code == 201, code)
        embedded = getattr(data.embedded, kind) if data.embedded else None
        check(f"case {decision}: _embedded.{kind}", embedded is not None, data)
        if embedded is not None:
            check(f"case {decision}: the {kind} is {status}", embedded.status == status, embedded)
            check(f"case {decision}: the {kind}'s link", "/pts/v2/" in embedded.links._self.href, embedded.links)


@scenario
def an_authorization_is_incremented_then_captured_whole():
    auth, _ = payment("100.00")
    request = cs.IncrementAuthRequest(
        client_reference_information=cs.Ptsv2paymentsidClientReferenceInformation(code="SDK-incr"),
        processing_information=cs.Ptsv2paymentsidProcessingInformation(
            authorization_options=cs.Ptsv2paymentsidProcessingInformationAuthorizationOptions(
                initiator=cs.Ptsv2paymentsidProcessingInformationAuthorizationOptionsInitiator(
                    stored_credential_used=True
                )
            )
        ),
        order_information=cs.Ptsv2paymentsidOrderInformation(
            amount_details=cs.Ptsv2paymentsidOrderInformationAmountDetails(additional_amount="25.00", currency="USD")
        ),
    )
    data, status, _ = cs.PaymentsApi(CONFIG).increment_auth(auth.id, body(request))
    check("increment: 201 AUTHORIZED", (status, data.status) == (201, "AUTHORIZED"), (status, data.status))
    check(
        "increment: the amount it added",
        data.order_information.amount_details.authorized_amount == "25.00",
        data.order_information,
    )
    check("increment: its link names its id", data.links._self.href.endswith("/" + data.id), data.links)
    data, status, _ = capture(auth.id, "125.00")
    check("capture of the incremented whole: 201", status == 201, status)


@scenario
def a_card_gets_one_instrument_identifier_read_back_masked():
    number = fresh_visa()
    request = cs.PostInstrumentIdentifierRequest(
        card=cs.TmsEmbeddedInstrumentIdentifierCard(number=number)
    )
    api = cs.InstrumentIdentifierApi(CONFIG)
    first, status, _ = api.post_instrument_identifier(body(request))
    check("instrument identifier: 201 the first time", status == 201, status)
    again, status, _ = api.post_instrument_identifier(body(request))
    check("instrument identifier: 200 and the same id again", (status, again.id) == (200, first.id), (status, again.id))
    read, status, _ = api.get_instrument_identifier(first.id)
    check("instrument identifier read: 200", status == 200, status)
    masked = number[:6] + "XXXXXX" + number[-4:]
    check("instrument identifier read: masked", read.card.number == masked, read.card.number)


@scenario
def a_search_is_read_back_by_its_id():
    auth, _ = payment("44.00")
    search = cs.CreateSearchRequest(
        save=True,
        name="kept",
        timezone="UTC",
        query=f"clientReferenceInformation.code:{auth.client_reference_information.code}",
        offset=0,
        limit=10,
        sort="id:asc,submitTimeUtc:asc",
    )
    made, _, _ = cs.SearchTransactionsApi(CONFIG).create_search(body(search))
    read, status, _ = cs.SearchTransactionsApi(CONFIG).get_search(made.search_id)
    check("search read back: 200", status == 200, status)
    check("search read back: the same result", read.total_count == 1, read.total_count)


@scenario
def a_report_is_downloaded():
    import datetime

    # The SDK hands a downloaded report back in the third place of its answer.
    today = datetime.date.today().isoformat()
    _, status, text = cs.ReportDownloadsApi(CONFIG).download_report(
        today, "PaymentBatchDetailReport", organization_id=CONFIG["merchantid"]
    )
    check("report download: 200", status == 200, status)
    check(
        "report download: the Payment Batch Detail Report",
        str(text).startswith("Payment Batch Detail Report,1.0,"),
        str(text)[:120],
    )


failed = [r for r in RESULTS if not r["ok"]]
print(json.dumps({"checks": len(RESULTS), "failed": len(failed)}))
sys.exit(1 if failed else 0)
