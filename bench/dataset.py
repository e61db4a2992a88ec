"""A large synthetic lead base generated set-based in PostgreSQL (a million leads in well under a minute).

Deterministic for a seed (PostgreSQL's setseed). Realistic enough for timing:
companies of every industry and size, leads from every source, BANT answers at
every stage, about two engagement events per lead over 120 days.
"""

from __future__ import annotations

import time

from django.db import connection, transaction

INDUSTRIES = "ARRAY['software','manufacturing','finance','healthcare','retail','education','logistics','energy','telecom','media','professional_services','public_sector','real_estate','hospitality','other']"  # noqa: E501
COUNTRIES = "ARRAY['DE','AT','CH','PL','SE','NO','GB','IE','US','FR','BR','JP']"
TITLES = "ARRAY['CEO','CTO','VP Sales','Head of Operations','Director of IT','Project Manager','Sales Manager','Engineer','Analyst','Student','Marketing Specialist','Founder & Owner','']"  # noqa: E501
SOURCES = "ARRAY['web_form','webinar','ppc','linkedin','cold_email','referral','event','import','partner','other']"
KINDS = "ARRAY['email_open','email_click','webinar_registered','webinar_attended','form_submitted','page_visit','content_download','call','meeting','demo_requested']"  # noqa: E501


def _pick(array: str) -> str:
    return f"({array})[1 + floor(random() * array_length({array}, 1))::int]"


def load_synthetic(*, leads: int, seed: float = 0.42) -> dict[str, float]:
    """Replace every lead, company, BANT row and event with ``leads`` synthetic leads."""
    from leads.models import FIRST_TOUCH_KINDS

    companies = max(1, leads // 3)
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE leads_lead, leads_company RESTART IDENTITY CASCADE")
        cursor.execute("SELECT setseed(%s)", [seed])
        cursor.execute(
            f"""
            INSERT INTO leads_company (name, domain, industry, industry_other, employee_count, annual_revenue,
                revenue_currency, country, region, served_by_competitor, competitor_name, notes, created_at, updated_at)
            SELECT 'Company ' || g, 'company' || g || '.example.com', {_pick(INDUSTRIES)}, '',
                   1 + floor(exp(random() * 10.8))::int, round((random() * 1e8)::numeric, 2), 'EUR',
                   {_pick(COUNTRIES)}, '', random() < 0.12, '', '', now(), now()
            FROM generate_series(1, %s) g
            """,
            [companies],
        )
        cursor.execute(
            "SELECT 1 FROM information_schema.columns WHERE table_name = 'leads_lead' AND column_name = 'custom'"
        )
        custom = cursor.fetchone() is not None
        cursor.execute(
            f"""
            INSERT INTO leads_lead (first_name, last_name, email, phone, job_title, source, campaign, utm_source,
                utm_medium, utm_campaign, utm_term, utm_content, status, status_reason, do_not_contact,
                marketing_consent, consent_recorded_at, created_at, updated_at, version, company_id, owner_id, team_id
                {", custom" if custom else ""})
            SELECT 'First' || g, 'Last' || g,
                   'lead' || g || '@' || CASE WHEN random() < 0.15 THEN 'gmail.com'
                                              ELSE 'company' || (1 + g %% %s) || '.example.com' END,
                   '', {_pick(TITLES)}, {_pick(SOURCES)}, CASE WHEN random() < 0.3 THEN 'spring-launch' ELSE '' END,
                   '', '', '', '', '', 'new', '', random() < 0.03, random() < 0.5, NULL,
                   now() - random() * interval '365 days', now(), 1, 1 + (g %% %s), NULL, NULL
                   {", '{}'::jsonb" if custom else ""}
            FROM generate_series(1, %s) g
            """,
            [companies, companies, leads],
        )
        cursor.execute(
            f"""
            INSERT INTO leads_qualification (lead_id, budget, budget_amount, budget_currency, budget_notes,
                authority, decision_maker, authority_notes, need, need_pain, need_notes, timing, decision_date,
                timing_notes)
            SELECT id, {_pick("ARRAY['unknown','unknown','none','planned','approved']")}, NULL, 'EUR', '',
                   {_pick("ARRAY['unknown','unknown','intermediary','influencer','decision_maker']")}, '', '',
                   {_pick("ARRAY['unknown','unknown','none','weak','clear']")}, '', '',
                   {_pick("ARRAY['unknown','unknown','over_12m','6_12m','3_6m','under_3m']")}, NULL, ''
            FROM leads_lead
            """
        )
        cursor.execute(
            f"""
            INSERT INTO leads_engagementevent (lead_id, kind, occurred_at, metadata, client_event_id, created_at)
            SELECT l.id, {_pick(KINDS)}, now() - random() * interval '120 days', '{{}}'::jsonb, NULL, now()
            FROM leads_lead l CROSS JOIN generate_series(1, 3) k
            WHERE random() < 0.7
            """
        )
        cursor.execute(
            "SELECT 1 FROM information_schema.columns "
            "WHERE table_name = 'leads_lead' AND column_name = 'first_touched_at'"
        )
        if cursor.fetchone() is not None:
            # Every lead is New: its first touch is its first call or meeting since its creation
            # (leads.models.FIRST_TOUCH_KINDS), as leads.services would have recorded it.
            cursor.execute(
                """
                UPDATE leads_lead l SET first_touched_at = t.touched_at
                FROM (SELECT e.lead_id, min(e.occurred_at) AS touched_at
                      FROM leads_engagementevent e JOIN leads_lead l2 ON l2.id = e.lead_id
                      WHERE e.kind = ANY(%s) AND e.occurred_at >= l2.created_at
                      GROUP BY e.lead_id) t
                WHERE l.id = t.lead_id
                """,
                [list(FIRST_TOUCH_KINDS)],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_company, leads_lead, leads_qualification, leads_engagementevent")
        cursor.execute("SELECT count(*) FROM leads_engagementevent")
        events = cursor.fetchone()[0]
    # The demo teams (territories for routing) and users (the API bench reads as "manager").
    from leads.demo import ensure_demo_teams_and_users

    ensure_demo_teams_and_users()
    return {"leads": leads, "companies": companies, "events": events, "seconds": time.perf_counter() - started}
