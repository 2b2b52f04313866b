"""The operator console: `GET /console`, server-rendered, refreshing itself.

The page is HTML rendered here (jinja2, templates and assets inside this package: nothing
from a CDN, no build step); a few lines of JavaScript fetch its sections again every two
seconds as HTML fragments rendered by the same templates. The same data is JSON under
`/v1/console/...` for scripts. Everything comes from monitoring's own tables and from the
broker (dead-letter counts, consumer lag), never from another service's tables.

The console shows what the key it is opened with may see (issue 23, model.Audience): a
department the chains below the orders it is party to (404 for another chain) and the
company-wide counts; an analyst, operator or admin every chain without the texts people wrote;
a finance key gets 403. Opened without a key it shows everything, in local and test only
(where `make run` opens it); elsewhere a key is needed (a proxy in front of the console adds
the header for the people it lets in).
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any
from uuid import UUID

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, PackageLoader, select_autoescape
from supplychain_contracts import topics
from supplychain_kit.http.app import Db, Runtime
from supplychain_kit.http.auth import authenticate_roles
from supplychain_kit.http.problems import PROBLEM_RESPONSE, Problem
from supplychain_kit.runtime import ServiceRuntime

from monitoring.analytics import scorecards
from monitoring.console import store
from monitoring.console.dead_letters import DeadLetterSizes
from monitoring.console.model import (
    FINISHED,
    KEYLESS,
    NOTED_EVENTS,
    AlarmCount,
    Audience,
    Chain,
    GroupTopicLag,
    OpenStage,
    Overview,
    SlaBoard,
    SupplierScore,
    Waterfall,
    audience_of,
    chain_state,
    open_dispute,
    seconds_to_breach,
    service_lags,
    timeline_note,
    trace_url,
    waterfall_bars,
)
from monitoring.sla import rules as sla
from monitoring.sla import watermark_store
from monitoring.sla.watermarks import VerdictRule
from monitoring.timeline import dispute_store
from monitoring.timeline import store as timeline_store

RECENT_CHAINS = 15
OPEN_STAGES = 25
OPEN_DISPUTES = 25
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}

_bearer = HTTPBearer(
    auto_error=False,
    description="a department's, analyst's, operator's or admin's key (none in local and test)",
)
_console_roles = authenticate_roles("department", "analyst", "operator", "admin")


async def reader(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Audience:
    """What the key the console is opened with may see; without a key, everything in local
    and test, 401 elsewhere."""
    if credentials is None and request.app.state.runtime.settings.development_keys_allowed:
        return KEYLESS
    return audience_of(await _console_roles(request, credentials))


Reader = Annotated[Audience, Depends(reader)]
router = APIRouter(tags=["console"])
templates = Environment(
    loader=PackageLoader("monitoring.console", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def short_duration(seconds: float | None) -> str:
    """1.2 s, 4m 05s, 2h 03m, 3d 4h: short enough for a table cell."""
    if seconds is None:
        return "\u2013"  # an en dash: no value
    sign, seconds = ("-" if seconds < 0 else ""), abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{sign}{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{sign}{hours}h {minutes:02d}m"
    return f"{sign}{hours // 24}d {hours % 24}h"


templates.filters["duration"] = short_duration


def _clock(at: datetime | None) -> str:
    return at.astimezone(UTC).strftime("%H:%M:%S") if at else "\u2013"


templates.filters["clock"] = _clock


# --- assembling the views --------------------------------------------------------------------


async def overview(
    conn: asyncpg.Connection,
    *,
    now: datetime,
    dead_letters: dict[str, int] | None,
    lag: list[GroupTopicLag],
    verdicts: VerdictRule,
    audience: Audience,
) -> Overview:
    """The console's view at `now` from monitoring's tables, with what the broker says;
    `verdicts` tells which SLA verdicts monitoring's lag holds back; the chains, stages and
    disputes those `audience` may see."""
    visible = audience.visibility
    period = now.strftime("%Y-%m")
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    chains = [
        Chain.model_validate(
            {
                **row,
                "state": chain_state(row["event_types"]),
                "cancellation_refused": "CancellationRefused" in row["event_types"],
            }
        )
        for row in await store.recent_chains(conn, limit=RECENT_CHAINS, visible=visible)
    ]
    stages = [
        OpenStage.model_validate(
            {
                **row,
                "seconds_to_breach": seconds_to_breach(row["deadline"], now),
                "status": sla.stage_status(
                    ended_at=None, warn_at=row["warn_at"], deadline=row["deadline"], now=now
                ),
            }
        )
        for row in await store.open_stages(conn, limit=OPEN_STAGES, visible=visible)
    ]
    alarms = [AlarmCount.model_validate(row) for row in await store.alarms_since(conn, since=today)]
    cards = await scorecards.for_period(conn, period=period, now=now, with_time_split=False)
    held = await watermark_store.held_verdicts(conn, rule=verdicts, now=now)
    return Overview(
        generated_at=now,
        chains=chains,
        sla=SlaBoard(
            open_stages=stages,
            warnings_today=sum(a.warnings for a in alarms),
            breaches_today=sum(a.breaches for a in alarms),
            alarms_today=alarms,
            breaches_retracted_today=sum(a.breaches_retracted for a in alarms),
            verdicts_held=held.count,
            verdicts_behind_s=None if held.behind_s is None else round(held.behind_s, 1),
        ),
        period=period,
        scorecards=[SupplierScore.model_validate(card.model_dump()) for card in cards],
        dead_letters=dead_letters,
        lag=lag,
        service_lag=service_lags(lag),
        disputes=[
            open_dispute(row, now=now, audience=audience)
            for row in await dispute_store.unsettled(conn, limit=OPEN_DISPUTES, visible=visible)
        ],
    )


async def dead_letter_counts(runtime: ServiceRuntime[Any]) -> dict[str, int] | None:
    """Records in each dead-letter topic (end minus start offsets); None while the broker is
    not reachable."""
    try:
        sizes: dict[str, int] | None = await runtime.lag.topic_sizes(
            [topics.dead_letter_topic(topic) for topic in topics.ALL_TOPICS]
        )
    except Exception:  # the broker is down: the page says so instead of failing
        return None
    return sizes


def consumer_lag(runtime: ServiceRuntime[Any]) -> list[GroupTopicLag]:
    """The latest lag of every consumer group monitoring measures, per topic."""
    return [
        GroupTopicLag(
            group=group,
            topic=topic,
            records=lag.records_by_topic()[topic],
            seconds=round(seconds, 1),
            measured_at=lag.measured_at,
        )
        for group, lag in sorted(runtime.lag.latest.items())
        for topic, seconds in sorted(lag.seconds_by_topic().items())
    ]


async def waterfall(
    conn: asyncpg.Connection,
    order_id: UUID,
    *,
    tracing_ui_url: str | None,
    now: datetime,
    audience: Audience,
) -> Waterfall:
    """The chain `order_id` shows in, from its head down: its root order for a reader of every
    order; for a department, the topmost order above it (or itself) it is party to."""
    root = await store.chain_head(conn, order_id, visible=audience.visibility)
    if root is None:
        raise Problem(404, f"monitoring has seen no order {order_id}", field="order_id")
    span_s, bars = waterfall_bars(await timeline_store.handoffs(conn, root["order_id"]), now=now)
    return Waterfall(
        root_order_id=root["order_id"],
        state=chain_state(root["event_types"]),
        starts_at=min((b.started_at for b in bars if b.started_at), default=None),
        span_s=round(span_s, 1),
        trace_id=root["trace_id"],
        trace_url=trace_url(tracing_ui_url, root["trace_id"]),
        bars=bars,
        notes=[
            timeline_note(row, audience=audience)
            for row in await store.chain_events(conn, root["order_id"], event_types=NOTED_EVENTS)
        ],
    )


def _html(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(
        templates.get_template(template).render(finished=FINISHED, **context),
        headers={"Cache-Control": "no-store"},
    )


# --- routes ----------------------------------------------------------------------------------
# The caller is checked first: a request without the key it needs never touches the database.


def dead_letter_sizes(request: Request) -> DeadLetterSizes:
    """The app's dead-letter sizes (one per app: every open console page shares them)."""
    state = request.app.state
    if not hasattr(state, "dead_letter_sizes"):
        runtime = state.runtime
        state.dead_letter_sizes = DeadLetterSizes(lambda: dead_letter_counts(runtime))
    sizes: DeadLetterSizes = state.dead_letter_sizes
    return sizes


DeadLetters = Annotated[DeadLetterSizes, Depends(dead_letter_sizes)]


async def _overview(
    db: asyncpg.Connection,
    runtime: ServiceRuntime[Any],
    dead_letters: DeadLetterSizes,
    audience: Audience,
) -> Overview:
    return await overview(
        db,
        now=datetime.now(UTC),
        dead_letters=await dead_letters.read(),
        lag=consumer_lag(runtime),
        verdicts=runtime.settings.verdict_rule(),
        audience=audience,
    )


async def _waterfall(
    db: asyncpg.Connection, runtime: ServiceRuntime[Any], order_id: UUID, audience: Audience
) -> Waterfall:
    return await waterfall(
        db,
        order_id,
        tracing_ui_url=runtime.settings.tracing_ui_url,
        now=datetime.now(UTC),
        audience=audience,
    )


@router.get("/console", response_class=HTMLResponse)
async def console_page(
    caller: Reader, db: Db, runtime: Runtime, dead_letters: DeadLetters
) -> HTMLResponse:
    """The operator console: chains, SLA board, waterfall, open disputes, scorecards, dead
    letters, lag (what the key it is opened with may see)."""
    view = await _overview(db, runtime, dead_letters, caller)
    chain = await _waterfall(db, runtime, view.chains[0].order_id, caller) if view.chains else None
    return _html("console.html", view=view, chain=chain)


@router.get("/console/fragments/overview", response_class=HTMLResponse, include_in_schema=False)
async def overview_fragment(
    caller: Reader, db: Db, runtime: Runtime, dead_letters: DeadLetters
) -> HTMLResponse:
    return _html("overview.html", view=await _overview(db, runtime, dead_letters, caller))


@router.get(
    "/console/fragments/chains/{order_id}", response_class=HTMLResponse, include_in_schema=False
)
async def chain_fragment(caller: Reader, order_id: UUID, db: Db, runtime: Runtime) -> HTMLResponse:
    return _html("chain.html", chain=await _waterfall(db, runtime, order_id, caller))


@router.get("/console/static/{name}", include_in_schema=False)
async def console_asset(name: str) -> Response:
    """The stylesheet and script (public: they hold no data)."""
    if name not in STATIC_FILES:
        raise Problem(404, f"no console asset {name}", field="name")
    body = resources.files("monitoring.console").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC_FILES[name], headers={"Cache-Control": "max-age=60"})


@router.get("/v1/console/overview", response_model=Overview)
async def console_overview(
    caller: Reader, db: Db, runtime: Runtime, dead_letters: DeadLetters
) -> Overview:
    """What the console shows: recent chains, the SLA board, open disputes, scorecards of the
    month, dead-letter counts and consumer lag (what the key may see: a department the chains,
    stages and disputes it is party to)."""
    return await _overview(db, runtime, dead_letters, caller)


@router.get(
    "/v1/console/chains/{order_id}", response_model=Waterfall, responses={404: PROBLEM_RESPONSE}
)
async def console_chain(caller: Reader, order_id: UUID, db: Db, runtime: Runtime) -> Waterfall:
    """The chain an order belongs to as a waterfall of its handoffs: start, end, target,
    deadline, status, and the trace's link when a tracing UI is configured; its
    cancellations (requested, refused with the reason, settled) and disputes as notes. A
    department reads a chain below an order it is party to (404 for any other); the reasons
    people wrote only of its own orders, and to no analyst, operator or admin."""
    return await _waterfall(db, runtime, order_id, caller)
