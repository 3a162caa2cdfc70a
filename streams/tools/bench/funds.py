"""`sunlight bench`, funds section: replay of a synthetic funds stream of N applications
(with grants, follow-ups, invoices, tax records and payments for a fifth of them), with
title similarity (blocked by enterprise) and, in the same run, with it switched off."""

from __future__ import annotations

import gzip
import io
import random
from dataclasses import replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import orjson

from detectors.applications import DETECTOR
from detectors.config import load_config
from detectors.funds_events import CODE_CHARSET, check_character
from streams.batch.replay import replay_files

PLACES = ["沈阳市浑南区", "沈北新区", "于洪区", "铁西区", "苏家屯区", "新民市", "法库县", "辽中区"]
SCALES = ["年产5万吨", "年处理3万吨", "年产20万套", "一期", "二期扩建", "新建"]
THINGS = ["冷链物流仓储中心", "光伏组件生产线", "集成电路封装测试", "机器人减速器研发",
          "数字农业示范园", "智慧园区数据中心", "生物医药中试基地", "鹅业养殖屠宰加工一体化",
          "新能源汽车零部件智能制造", "工业互联网平台"]
KINDS = ["建设项目", "产业化项目", "技术改造项目", "示范工程"]
DEPARTMENTS = ["发改委投资处", "发改委高技术产业处", "工业和信息化局", "科技局", "农业农村局"]
T0 = 1_748_707_200_000  # 2025-06-01 00:00 +08:00: deadlines stay in known calendar years
DAY = 86_400_000


def credit_code(rng: random.Random) -> str:
    first = "912101" + "".join(rng.choice(CODE_CHARSET) for _ in range(11))
    return first + check_character(first)


def synthetic_funds(applications: int, seed: int = 11) -> list[dict[str, Any]]:
    """Events in time order over a year: applications by about applications/5 enterprises
    (one in twenty repeats a title it used before), and a grant with its follow-ups and an
    invoice with its tax record and payment for every fifth application."""
    rng = random.Random(seed)
    orgs = [credit_code(rng) for _ in range(max(1, applications // 5))]
    titles: dict[str, list[str]] = {}
    out: list[dict[str, Any]] = []
    for i in range(applications):
        ts = T0 + i * (365 * DAY // max(1, applications))
        org = rng.choice(orgs)
        used = titles.setdefault(org, [])
        if used and rng.random() < 0.05:
            title = rng.choice(used) + "。"
        else:
            title = rng.choice(PLACES) + rng.choice(SCALES) + rng.choice(THINGS) + rng.choice(KINDS)
        used.append(title)
        out.append({"kind": "application", "application_id": f"A{i:07d}", "org_id": org,
                    "org_name": f"企业{org[-6:]}", "title": title,
                    "department": rng.choice(DEPARTMENTS), "amount_cny": 500000.0, "ts": ts})
        if i % 5:
            continue
        project, seller = f"P{i:07d}", rng.choice(orgs)
        number = f"2621{i:016d}"
        out += [
            {"kind": "grant", "grant_id": f"G{i:07d}", "project_id": project, "org_id": org,
             "amount_cny": 500000.0, "ts": ts + 1000},
            {"kind": "followup", "followup_id": f"F{i:07d}", "project_id": project,
             "type": "inspection", "ts": ts + 3 * DAY},
            {"kind": "invoice", "invoice_no": number, "project_id": project, "org_id": org,
             "seller_id": seller, "total_cny": 1000.0, "issued": "2026-01-01", "ts": ts + 5 * DAY},
            {"kind": "tax_invoice", "invoice_no": number, "seller_id": seller, "buyer_id": org,
             "total_cny": 1000.0, "issued": "2026-01-01", "status": "normal",
             "ts": ts + 5 * DAY + 1000},
            {"kind": "bank_payment", "txn_id": f"B{i:07d}", "project_id": project,
             "payer_id": org, "payee_id": seller, "amount_cny": 1000.0, "invoice_no": number,
             "ts": ts + 6 * DAY},
        ]
    out.sort(key=lambda e: e["ts"])
    return out


def bench_funds(applications: int, tmp: Path) -> dict[str, Any]:
    path = tmp / "funds-bench.jsonl.gz"
    events = synthetic_funds(applications)
    with gzip.open(path, "wb") as f:
        for e in events:
            f.write(orjson.dumps(e) + b"\n")
    config = load_config()
    rules = dict(config.rules)
    rules[DETECTOR] = replace(rules[DETECTOR], enabled=False)
    without = replace(config, rules=MappingProxyType(rules))
    result: dict[str, Any] = {"applications": applications, "events": len(events)}
    for name, cfg in (("with_similarity", config), ("without_similarity", without)):
        stats = replay_files([path], io.BytesIO(), config=cfg)
        result[name] = {
            "events_per_s": stats.total_events / stats.seconds,
            "seconds": stats.seconds,
            "duplicate_applications": stats.alerts.get(DETECTOR, 0),
            "alerts": sum(stats.alerts.values()),
        }
    return result
