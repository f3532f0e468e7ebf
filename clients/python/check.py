"""A county script written against the Python client generated from openapi/openapi.json, used
as is: a token, a filtered list, a create, the table and an export download.

    SHUANGBAI_URL=http://127.0.0.1:8080 SHUANGBAI_USERNAME=… SHUANGBAI_PASSWORD=… \
        PYTHONPATH=<generated client folder> python3 clients/python/check.py
"""

import datetime
import os
import secrets
import sys

from shuangbai_client import AuthenticatedClient, Client
from shuangbai_client.api.auth import issue_token
from shuangbai_client.api.counties import list_counties
from shuangbai_client.api.reports import progress_export, progress_report
from shuangbai_client.api.towns import create_town, list_towns
from shuangbai_client.models import (
    ExportFormat,
    PageTownOut,
    ProgressTable,
    TokenIn,
    TokenOut,
    TownIn,
    TownKind,
    TownOut,
)

base = os.environ.get("SHUANGBAI_URL", "http://127.0.0.1:8080")
anonymous = Client(base_url=base)
token = issue_token.sync(
    client=anonymous,
    body=TokenIn(
        grant_type="password",
        username=os.environ["SHUANGBAI_USERNAME"],
        password=os.environ["SHUANGBAI_PASSWORD"],
    ),
)
if not isinstance(token, TokenOut):
    sys.exit(f"no token: {token}")
client = AuthenticatedClient(base_url=base, token=token.access_token)

counties = list_counties.sync(client=client, sort="division_code", limit=10)
county = next(c for c in counties.items if c.kind.value != "city_level")

towns = list_towns.sync(client=client, county_id=county.id, kind=TownKind.TOWN, sort="-code")
if not isinstance(towns, PageTownOut):
    sys.exit(f"no towns: {towns}")
used = {t.code for t in towns.items}
code = next(
    f"{county.division_code}{n:03d}"
    for n in range(900, 1000)
    if f"{county.division_code}{n:03d}" not in used
)
created = create_town.sync(
    client=client,
    body=TownIn(county_id=county.id, name=f"客户端检查镇{secrets.token_hex(3)}", code=code, kind=TownKind.TOWN),
)
if not isinstance(created, TownOut):
    sys.exit(f"town not created: {created}")

table = progress_report.sync(client=client, as_of=datetime.date(2021, 6, 9))
if not isinstance(table, ProgressTable):
    sys.exit(f"no table: {table}")

export = progress_export.sync_detailed(client=client, format_=ExportFormat.XLSX)
if export.status_code != 200 or not export.content.startswith(b"PK"):
    sys.exit(f"no XLSX export: {export.status_code}")
print(
    f"python client: {len(counties.items)} counties, town {created.code} created in {county.name}, "
    f"table of {len(table.rows)} rows, XLSX export of {len(export.content)} bytes"
)
