"""The official Zoho CRM Python SDK (zohocrmsdk8-0) against the sandbox.

The SDK is initialised with a custom environment (the sandbox's CRM and accounts URLs) and a
refresh token; it reads the modules and a module's fields before its first record call. Each
scenario then calls the SDK as a merchant's developer would and checks that the answer parsed
into the SDK's own classes with the right values.

Usage: python zoho_crm_sdk.py WORKDIR   (environment: ZOHO_URL, CLIENT_ID, CLIENT_SECRET,
REFRESH_TOKEN). Prints one line per check and, last, a JSON summary; exits 1 if any failed.
"""

import json
import os
import sys
import time
import traceback
import uuid
import warnings

warnings.filterwarnings("ignore")

from zohocrmsdk.src.com.zoho.api.authenticator.oauth_token import OAuthToken  # noqa: E402
from zohocrmsdk.src.com.zoho.api.authenticator.store import FileStore  # noqa: E402
from zohocrmsdk.src.com.zoho.api.logger import Logger  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api import HeaderMap, ParameterMap  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.coql import BodyWrapper as CoqlBody  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.coql import CoqlOperations  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.coql import ResponseWrapper as CoqlResponse  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.dc.data_center import DataCenter  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.initializer import Initializer  # noqa: E402
from zohocrmsdk.src.com.zoho.crm.api.record import (  # noqa: E402
    ActionWrapper,
    BodyWrapper,
    DeleteRecordsParam,
    GetRecordsParam,
    Record,
    RecordOperations,
    ResponseWrapper,
    SearchRecordsParam,
    SuccessResponse,
)
from zohocrmsdk.src.com.zoho.crm.api.sdk_config import SDKConfig  # noqa: E402

WORK = sys.argv[1]
BASE = os.environ["ZOHO_URL"].rstrip("/")
RESULTS = []


def check(name, condition, detail=""):
    RESULTS.append({"check": name, "ok": bool(condition), "detail": "" if condition else str(detail)})
    print(("ok   " if condition else "FAIL ") + name + ("" if condition else f": {detail}"))


def scenario(function):
    try:
        function()
    except Exception as e:  # noqa: BLE001
        check(function.__name__, False, "".join(traceback.format_exception_only(e)).strip())
    return function


def initialise():
    environment = DataCenter.Environment(BASE, BASE + "/oauth/v2/token", BASE)
    token = OAuthToken(
        client_id=os.environ["CLIENT_ID"],
        client_secret=os.environ["CLIENT_SECRET"],
        refresh_token=os.environ["REFRESH_TOKEN"],
        find_user=False,
    )
    os.makedirs(os.path.join(WORK, "resources"), exist_ok=True)
    Initializer.initialize(
        environment=environment,
        token=token,
        store=FileStore(os.path.join(WORK, "tokens.txt")),
        sdk_config=SDKConfig(auto_refresh_fields=False, pick_list_validation=False),
        resource_path=os.path.join(WORK, "resources"),
        logger=Logger.get_instance(level=Logger.Levels.INFO, file_path=os.path.join(WORK, "sdk.log")),
    )


def describe(item):
    """An SDK answer item in words: its code, message and details."""
    value = lambda v: getattr(v, "get_value", lambda: v)()  # noqa: E731
    return {
        "code": value(item.get_code()) if hasattr(item, "get_code") else None,
        "message": value(item.get_message()) if hasattr(item, "get_message") else None,
        "details": item.get_details() if hasattr(item, "get_details") else None,
    }


def created_ids(response):
    check("the answer is an ActionWrapper", isinstance(response.get_object(), ActionWrapper), type(response.get_object()))
    ids = []
    for item in response.get_object().get_data():
        check("each item succeeded", isinstance(item, SuccessResponse), describe(item))
        if isinstance(item, SuccessResponse):
            ids.append(item.get_details()["id"])
    return ids


def contact(last_name, email):
    record = Record()
    record.add_key_value("Last_Name", last_name)
    record.add_key_value("First_Name", "Ada")
    record.add_key_value("Email", email)
    return record


# Scenarios run as they are defined, below; the SDK is initialised first.
initialise()
TAG = uuid.uuid4().hex[:8]
CONTACTS = RecordOperations("Contacts")


@scenario
def records_are_created_read_updated_and_deleted():
    body = BodyWrapper()
    body.set_data([contact("Lovelace", f"ada-{TAG}@example.com")])
    response = CONTACTS.create_records(body, HeaderMap())
    check("create: 201", response.get_status_code() == 201, response.get_status_code())
    (record_id,) = created_ids(response) or [None]
    check("create: an id", bool(record_id), record_id)

    response = CONTACTS.get_record(int(record_id), ParameterMap(), HeaderMap())
    check("get: 200", response.get_status_code() == 200, response.get_status_code())
    wrapper = response.get_object()
    check("get: a ResponseWrapper", isinstance(wrapper, ResponseWrapper), type(wrapper))
    record = wrapper.get_data()[0]
    check("get: the id", str(record.get_id()) == str(record_id), record.get_id())
    check("get: the last name", record.get_key_value("Last_Name") == "Lovelace", record.get_key_value("Last_Name"))
    check("get: the e-mail", record.get_key_value("Email") == f"ada-{TAG}@example.com", record.get_key_value("Email"))

    update = Record()
    update.add_key_value("Last_Name", "King")
    body = BodyWrapper()
    body.set_data([update])
    response = CONTACTS.update_record(int(record_id), body, HeaderMap())
    check("update: 200", response.get_status_code() == 200, response.get_status_code())
    created_ids(response)
    record = CONTACTS.get_record(int(record_id), ParameterMap(), HeaderMap()).get_object().get_data()[0]
    check("update: read back", record.get_key_value("Last_Name") == "King", record.get_key_value("Last_Name"))

    response = CONTACTS.delete_record(int(record_id), ParameterMap(), HeaderMap())
    check("delete: 200", response.get_status_code() == 200, response.get_status_code())
    created_ids(response)
    response = CONTACTS.get_record(int(record_id), ParameterMap(), HeaderMap())
    check("delete: gone (204)", response.get_status_code() == 204, response.get_status_code())


@scenario
def an_upsert_updates_the_duplicate_it_finds():
    email = f"upsert-{TAG}@example.com"
    body = BodyWrapper()
    body.set_data([contact("First", email)])
    body.set_duplicate_check_fields(["Email"])
    first = created_ids(CONTACTS.upsert_records(body, HeaderMap()))
    body = BodyWrapper()
    body.set_data([contact("Second", email)])
    body.set_duplicate_check_fields(["Email"])
    second = created_ids(CONTACTS.upsert_records(body, HeaderMap()))
    check("upsert: the same record", first == second and len(first) == 1, (first, second))


@scenario
def search_list_with_paging_and_coql_find_the_records():
    emails = [f"page{i}-{TAG}@example.com" for i in range(3)]
    body = BodyWrapper()
    body.set_data([contact(f"Page{i}", e) for i, e in enumerate(emails)])
    ids = created_ids(CONTACTS.create_records(body, HeaderMap()))
    check("three created", len(ids) == 3, ids)

    # CRM indexes new records for search after a moment (the sandbox: two seconds), answering
    # 204 until then; a client asks again, as this does.
    params = ParameterMap()
    params.add(SearchRecordsParam.email, emails[1])
    for _ in range(20):
        response = CONTACTS.search_records(params, HeaderMap())
        if response.get_status_code() != 204:
            break
        time.sleep(0.25)
    check("search: 200", response.get_status_code() == 200, response.get_status_code())
    if response.get_status_code() == 200:
        found = [str(r.get_id()) for r in response.get_object().get_data()]
        check("search: the record by e-mail", found == [str(ids[1])], found)

    params = ParameterMap()
    params.add(GetRecordsParam.fields, "Last_Name,Email")
    params.add(GetRecordsParam.per_page, 2)
    params.add(GetRecordsParam.page, 1)
    response = CONTACTS.get_records(params, HeaderMap())
    check("list: 200", response.get_status_code() == 200, response.get_status_code())
    page = response.get_object()
    check("list: two on the page", len(page.get_data()) == 2, len(page.get_data()))
    check("list: more records", page.get_info().get_more_records() is True, page.get_info().get_more_records())

    query = CoqlBody()
    query.set_select_query(f"select Last_Name, Email from Contacts where Email = '{emails[2]}' limit 5")
    response = CoqlOperations().get_records(query)
    check("COQL: 200", response.get_status_code() == 200, response.get_status_code())
    rows = response.get_object()
    check("COQL: a ResponseWrapper", isinstance(rows, CoqlResponse), type(rows))
    if isinstance(rows, CoqlResponse):
        found = [r.get_key_value("Email") for r in rows.get_data()]
        check("COQL: the record", found == [emails[2]], found)

    query = CoqlBody()
    query.set_select_query("select Last_Name from Contacts where Email = 'x' andd Last_Name = 'y'")
    response = CoqlOperations().get_records(query)
    check("COQL syntax error: 400", response.get_status_code() == 400, response.get_status_code())
    error = response.get_object()
    code = error.get_code().get_value() if hasattr(error, "get_code") else None
    check("COQL syntax error: SYNTAX_ERROR", code == "SYNTAX_ERROR", describe(error))
    details = error.get_details() if hasattr(error, "get_details") else None
    # The SDK keeps these details as a dict: the line, the column and the token it stumbled on.
    where = (details.get("line"), details.get("column"), details.get("near")) if isinstance(details, dict) else details
    check("COQL syntax error: where", where == (1, 50, "andd"), where)

    params = ParameterMap()
    params.add(DeleteRecordsParam.ids, ",".join(str(i) for i in ids))
    response = CONTACTS.delete_records(params, HeaderMap())
    check("mass delete: 200", response.get_status_code() == 200, response.get_status_code())
    check("mass delete: each one", len(created_ids(response)) == 3, "not every record was deleted")


@scenario
def ids_and_lookups_go_as_numbers_and_lookups_come_back_named():
    accounts = RecordOperations("Accounts")
    account = Record()
    account.add_key_value("Account_Name", f"Analytical Engines {TAG}")
    body = BodyWrapper()
    body.set_data([account])
    (account_id,) = created_ids(accounts.create_records(body, HeaderMap())) or [None]
    person = contact("Babbage", f"charles-{TAG}@example.com")
    link = Record()
    link.set_id(int(account_id))  # the SDK sends ids as JSON numbers
    person.add_key_value("Account_Name", link)
    body = BodyWrapper()
    body.set_data([person])
    (person_id,) = created_ids(CONTACTS.create_records(body, HeaderMap())) or [None]
    record = CONTACTS.get_record(int(person_id), ParameterMap(), HeaderMap()).get_object().get_data()[0]
    linked = record.get_key_value("Account_Name")
    check("lookup: the id", linked is not None and str(linked.get_id()) == str(account_id), linked)
    check(
        "lookup: read back with its name",
        linked is not None and linked.get_key_value("name") == f"Analytical Engines {TAG}",
        linked.get_key_values() if linked is not None else None,
    )
    # A bulk update names each record by its id, a number.
    change = Record()
    change.set_id(int(person_id))
    change.add_key_value("First_Name", "Charles")
    body = BodyWrapper()
    body.set_data([change])
    created_ids(CONTACTS.update_records(body, HeaderMap()))
    record = CONTACTS.get_record(int(person_id), ParameterMap(), HeaderMap()).get_object().get_data()[0]
    check("bulk update by a numeric id", record.get_key_value("First_Name") == "Charles", record.get_key_value("First_Name"))

    params = ParameterMap()
    params.add(GetRecordsParam.ids, str(person_id))
    params.add(GetRecordsParam.fields, "Last_Name")
    response = CONTACTS.get_records(params, HeaderMap())
    rows = response.get_object().get_data() if response.get_status_code() == 200 else []
    check("list by ids=: only those", [str(r.get_id()) for r in rows] == [str(person_id)], [r.get_id() for r in rows])


failed = [r for r in RESULTS if not r["ok"]]
print(json.dumps({"checks": len(RESULTS), "failed": len(failed)}))
sys.exit(1 if failed else 0)
