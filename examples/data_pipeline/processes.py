"""Processes of the data pipeline design (examples/designs/data_pipeline.json).

A data_ingestion_job names a CSV of sales ({"source": {"path": "/file.csv"}}
or {"source": {"inline_csv": "region,product,...\\n..."}}).  Its workflow
ingests it into a raw_data_entity, transforms, enriches and aggregates it
into secondary data entities, and, when someone fires add_report, renders a
report_entity.  Each step remembers the id of what it added in the job's
data, and the next step reads it back with entity_service.

Load with:  SELECT cyoda_wf.load_functions(<this file's text>);
"""
import csv
import datetime
import io
import logging

from common.config.config import ENTITY_VERSION
from logic.app_init import entity_service
from cyoda_wf import data_ingestion

logging.basicConfig(level=logging.INFO)
logger = logging.getLogger(__name__)

CSV_COLUMNS = ["region", "product", "units", "unit_price", "date"]

# Reference data used to enrich the sales rows: unit prices are in the
# region's currency; usd_rate converts them to US dollars.
REGIONS = {
    "NA": {"name": "North America", "currency": "USD", "usd_rate": 1.0},
    "EU": {"name": "Europe", "currency": "EUR", "usd_rate": 1.08},
    "UK": {"name": "United Kingdom", "currency": "GBP", "usd_rate": 1.27},
    "APAC": {"name": "Asia-Pacific", "currency": "SGD", "usd_rate": 0.74},
}


def has_connection(meta, data):
    """Criterion of ingest_data: the job names a source to ingest from."""
    if data.get("connection"):
        return True
    source = data.get("source")
    if not isinstance(source, dict):
        return False
    return bool(source.get("path") or source.get("inline_csv"))


def ingest_raw_data(meta, data):
    """Read the job's CSV, add a raw_data_entity with its rows, remember raw_request_id."""
    if data.get("connection"):
        # fetch + parse + store one raw_data_entity (the design's adds_new_entites)
        raw_request_id = data_ingestion.ingest_data_from_connection(
            meta["token"], data["connection"], data.get("params"))
        raw = entity_service.get_item(meta["token"], "raw_data_entity", ENTITY_VERSION, raw_request_id)
        header = raw["rows"][0].keys() if raw["rows"] else []
        missing = [c for c in CSV_COLUMNS if c not in header]
        if missing:
            raise ValueError("connection %s lacks the columns %s" % (data["connection"], ", ".join(missing)))
        data["raw_request_id"] = raw_request_id
        data["rows_ingested"] = raw["row_count"]
        return
    source = data["source"]
    if source.get("path"):
        with open(source["path"], newline="", encoding="utf-8") as f:
            text = f.read()
        origin = source["path"]
    else:
        text = source["inline_csv"]
        origin = "inline CSV (%d bytes)" % len(text)

    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ValueError("dataset %s lacks the columns %s" % (origin, ", ".join(missing)))
    rows = [{c: row.get(c) for c in CSV_COLUMNS} for row in reader]

    raw_request_id = entity_service.add_item(
        meta["token"], "raw_data_entity", ENTITY_VERSION,
        {"job_id": meta["entity_id"], "origin": origin, "row_count": len(rows), "rows": rows},
    )
    logger.info("ingested %d rows from %s as %s", len(rows), origin, raw_request_id)
    data["raw_request_id"] = raw_request_id
    data["rows_ingested"] = len(rows)


def _parse_row(row):
    """A raw CSV row with proper types, or raise ValueError."""
    region = (row.get("region") or "").strip().upper()
    product = (row.get("product") or "").strip().title()
    if not region or not product:
        raise ValueError("region and product are required")
    units = int((row.get("units") or "").strip())
    unit_price = round(float((row.get("unit_price") or "").strip()), 2)
    day = datetime.date.fromisoformat((row.get("date") or "").strip())
    if units < 0 or unit_price < 0:
        raise ValueError("negative units or price")
    return {"region": region, "product": product, "units": units,
            "unit_price": unit_price, "date": day.isoformat()}


def transform_raw_data(meta, data):
    """Normalize the raw rows (trim, case, numbers, dates); rows that do not parse are rejected."""
    raw = entity_service.get_item(meta["token"], "raw_data_entity", ENTITY_VERSION, data["raw_request_id"])
    rows, rejected = [], []
    for line, row in enumerate(raw["rows"], start=2):  # line 1 is the header
        try:
            rows.append(_parse_row(row))
        except ValueError as e:
            rejected.append({"line": line, "row": row, "reason": str(e)})

    transformed_id = entity_service.add_item(
        meta["token"], "transformed_data_entity", ENTITY_VERSION,
        {"job_id": meta["entity_id"], "raw_request_id": data["raw_request_id"],
         "rows": rows, "rejected": rejected},
    )
    logger.info("transformed %d rows, rejected %d", len(rows), len(rejected))
    data["transformed_id"] = transformed_id
    data["rows_rejected"] = len(rejected)


def enrich_transformed_data(meta, data):
    """Add region name, currency and US dollar revenue to every row."""
    transformed = entity_service.get_item(
        meta["token"], "transformed_data_entity", ENTITY_VERSION, data["transformed_id"])
    rows = []
    for row in transformed["rows"]:
        ref = REGIONS.get(row["region"], {"name": "Unknown region", "currency": "USD", "usd_rate": 1.0})
        revenue_local = round(row["units"] * row["unit_price"], 2)
        rows.append(dict(row, region_name=ref["name"], currency=ref["currency"],
                         revenue_local=revenue_local,
                         revenue_usd=round(revenue_local * ref["usd_rate"], 2)))

    enriched_id = entity_service.add_item(
        meta["token"], "enriched_data_entity", ENTITY_VERSION,
        {"job_id": meta["entity_id"], "transformed_id": data["transformed_id"], "rows": rows},
    )
    data["enriched_id"] = enriched_id


def _totals(rows, key):
    groups = {}
    for row in rows:
        g = groups.setdefault(row[key], {key: row[key], "units": 0, "revenue_usd": 0.0})
        g["units"] += row["units"]
        g["revenue_usd"] += row["revenue_usd"]
    result = sorted(groups.values(), key=lambda g: (-g["revenue_usd"], g[key]))
    for g in result:
        g["revenue_usd"] = round(g["revenue_usd"], 2)
    return result


def aggregate_enriched_data(meta, data):
    """Totals per region and per product; the aggregated entity's own workflow publishes it."""
    enriched = entity_service.get_item(
        meta["token"], "enriched_data_entity", ENTITY_VERSION, data["enriched_id"])
    rows = enriched["rows"]
    by_region = _totals(rows, "region_name")
    by_product = _totals(rows, "product")
    dates = sorted(row["date"] for row in rows)
    total = {"rows": len(rows),
             "units": sum(row["units"] for row in rows),
             "revenue_usd": round(sum(row["revenue_usd"] for row in rows), 2),
             "first_date": dates[0] if dates else None,
             "last_date": dates[-1] if dates else None}

    aggregated_id = entity_service.add_item(
        meta["token"], "aggregated_data_entity", ENTITY_VERSION,
        {"job_id": meta["entity_id"], "enriched_id": data["enriched_id"],
         "by_region": by_region, "by_product": by_product, "total": total},
    )
    data["aggregated_id"] = aggregated_id
    data["revenue_usd"] = total["revenue_usd"]


def _table(title, key_title, key, groups, total):
    lines = ["## %s" % title, "",
             "| %s | Units | Revenue (USD) | Share |" % key_title,
             "|---|---:|---:|---:|"]
    for g in groups:
        share = 100.0 * g["revenue_usd"] / total if total else 0.0
        lines.append("| %s | %d | %s | %.1f%% |" % (g[key], g["units"], "{:,.2f}".format(g["revenue_usd"]), share))
    return lines


def build_report(meta, data):
    """Render the aggregates as a markdown report_entity (manual transition add_report)."""
    agg = entity_service.get_item(
        meta["token"], "aggregated_data_entity", ENTITY_VERSION, data["aggregated_id"])
    total = agg["total"]
    title = "Sales report: %s" % data.get("name", "data ingestion job")
    lines = ["# %s" % title, "",
             "%d sales from %s to %s, %d units, %s USD revenue (%d rows rejected)."
             % (total["rows"], total["first_date"], total["last_date"], total["units"],
                "{:,.2f}".format(total["revenue_usd"]), data.get("rows_rejected", 0)),
             ""]
    lines += _table("Revenue by region", "Region", "region_name", agg["by_region"], total["revenue_usd"])
    lines.append("")
    lines += _table("Revenue by product", "Product", "product", agg["by_product"], total["revenue_usd"])

    report_id = entity_service.add_item(
        meta["token"], "report_entity", ENTITY_VERSION,
        {"job_id": meta["entity_id"], "aggregated_id": data["aggregated_id"],
         "title": title, "format": "markdown", "body": "\n".join(lines) + "\n"},
    )
    logger.info("report %s ready", report_id)
    data["report_id"] = report_id
