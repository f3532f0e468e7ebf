// A front-end's calls written against the types openapi-typescript generates from
// openapi/openapi.json, with openapi-fetch, used as they are (no casts): a token, a filtered list,
// a create, the table and an export download. `tsc --strict` compiles it; node runs it.
import createClient from "openapi-fetch";
import type { components, paths } from "./schema.js";

type TownOut = components["schemas"]["TownOut"];
type ProgressTable = components["schemas"]["ProgressTable"];

const baseUrl = process.env.SHUANGBAI_URL ?? "http://127.0.0.1:8080";
const username = process.env.SHUANGBAI_USERNAME ?? "";
const password = process.env.SHUANGBAI_PASSWORD ?? "";

async function main(): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const token = await anonymous.POST("/api/v1/auth/token", {
    body: { grant_type: "password", username, password },
    headers: { "content-type": "application/x-www-form-urlencoded" },
  });
  if (!token.data) throw new Error(`no token: ${JSON.stringify(token.error)}`);
  const client = createClient<paths>({
    baseUrl,
    headers: { authorization: `Bearer ${token.data.access_token}` },
  });

  const counties = await client.GET("/api/v1/counties", {
    params: { query: { sort: "division_code", limit: 10 } },
  });
  if (!counties.data) throw new Error("no counties");
  const county = counties.data.items.find((c) => c.kind !== "city_level");
  if (!county) throw new Error("no county");

  const towns = await client.GET("/api/v1/towns", {
    params: { query: { county_id: county.id, kind: "town", sort: "-code" } },
  });
  if (!towns.data) throw new Error("no towns");
  const listed: TownOut[] = towns.data.items;
  const used = new Set(listed.map((t) => t.code));
  let code = "";
  for (let n = 800; n < 900 && !code; n++) {
    const candidate = `${county.division_code}${n}`;
    if (!used.has(candidate)) code = candidate;
  }
  const created = await client.POST("/api/v1/towns", {
    body: { county_id: county.id, name: `前端检查镇${Date.now() % 100000}`, code, kind: "town" },
  });
  if (!created.data) throw new Error(`town not created: ${JSON.stringify(created.error)}`);
  const town: TownOut = created.data;

  const table = await client.GET("/api/v1/reports/progress", {
    params: { query: { as_of: "2021-06-09" } },
  });
  if (!table.data) throw new Error("no table");
  const rows: ProgressTable["rows"] = table.data.rows;

  const file = await client.GET("/api/v1/reports/progress/export", {
    params: { query: { format: "csv", as_of: "2021-06-09" } },
    parseAs: "arrayBuffer",
  });
  if (!file.data) throw new Error("no export");
  const bytes = new Uint8Array(file.data);
  const disposition = file.response.headers.get("content-disposition") ?? "";

  console.log(
    `typescript client: town ${town.code} created in ${county.name}, table of ${rows.length} rows, ` +
      `CSV export of ${bytes.length} bytes (${disposition.split(";")[1]?.trim() ?? ""})`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
