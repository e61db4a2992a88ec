"""The pipeline board: who sees and moves what, the lost reason, bounded columns, constant queries."""

from __future__ import annotations

import pytest
from django.urls import reverse

from leads.models import Lead, LeadStatus
from scoring.models import LeadScore
from scoring.services import score_leads
from segments import services as segment_services
from segments.models import LeadPlacement, StageVisit
from segments.pages.selectors import BOARD_CARDS_PER_COLUMN
from tests import factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def login(client, user):
    client.force_login(user)
    return client


def board_url(pipeline=None):
    url = reverse("pages:board")
    return f"{url}?pipeline={pipeline.pk}" if pipeline is not None else url


def card_ids(response):
    return {lead.pk for column in response.context["board"].columns for lead in column.cards}


@pytest.fixture
def board_leads(rep, rep_lead, pool_lead, foreign_lead, stages, place, rules):
    """The rep's lead in Proposal, the team pool lead in New, another team's lead in New (all scored)."""
    place(rep_lead, stages["Proposal"])
    place(pool_lead, stages["New"])
    place(foreign_lead, stages["New"])
    score_leads(lead_ids=[rep_lead.pk, pool_lead.pk, foreign_lead.pk])
    return rep_lead, pool_lead, foreign_lead


# --- reading the board --------------------------------------------------------------------------


def test_board_needs_login(client, pipeline):
    response = client.get(board_url())
    assert response.status_code == 302 and response["Location"].startswith(reverse("pages:login"))


def test_rep_sees_own_and_pool_leads_with_counts(client, rep, board_leads, stages):
    rep_lead, pool_lead, _foreign = board_leads
    response = login(client, rep).get(board_url())
    assert response.status_code == 200
    assert card_ids(response) == {rep_lead.pk, pool_lead.pk}
    counts = {column.stage.name: column.count for column in response.context["board"].columns}
    assert counts == {"New": 1, "Contacted": 0, "Proposal": 1, "Won": 0, "Lost": 0}
    html = response.content.decode()
    assert [c.stage.name for c in response.context["board"].columns] == ["New", "Contacted", "Proposal", "Won", "Lost"]
    assert "Yours" not in html  # the other rep's lead ("Not Yours") is not on the board
    assert html.count('class="move"') == 2 and 'draggable="true"' in html


def test_manager_sees_every_lead_and_the_admin_link(client, manager, board_leads, pipeline):
    response = login(client, manager).get(board_url())
    assert card_ids(response) == {lead.pk for lead in board_leads}
    assert reverse("admin:segments_pipeline_change", args=[pipeline.pk]) in response.content.decode()


def test_marketer_reads_the_board_without_moving(client, marketer, board_leads):
    response = login(client, marketer).get(board_url())
    html = response.content.decode()
    assert card_ids(response) == {lead.pk for lead in board_leads}
    assert "Read only" in html and 'class="move"' not in html and "draggable" not in html


def test_cards_show_name_company_score_band_owner_and_time_in_stage(client, rep, board_leads):
    rep_lead = board_leads[0]
    score = LeadScore.objects.get(lead=rep_lead)
    response = login(client, rep).get(board_url())
    card = next(lead for c in response.context["board"].columns for lead in c.cards if lead.pk == rep_lead.pk)
    assert card.in_stage == "1 min"
    html = response.content.decode()
    chunk = html[html.index(f'id="card-{rep_lead.pk}"') :][:3000]
    assert "Ada Lovelace" in chunk and rep_lead.company.name in chunk
    assert f">{score.total}<" in chunk and f">{score.band}<" in chunk
    assert rep.get_full_name() in chunk and "1 min" in chunk
    pool_chunk = html[html.index(f'id="card-{board_leads[1].pk}"') :][:3000]
    assert "Team pool" in pool_chunk


def test_columns_are_bounded_hottest_first_with_more(client, manager, stages, place, make_lead, rules):
    leads = [make_lead(owner=None, job_title="CEO" if i % 2 else "Intern") for i in range(BOARD_CARDS_PER_COLUMN + 5)]
    for lead in leads:
        place(lead, stages["Contacted"])
    score_leads(lead_ids=[lead.pk for lead in leads])
    response = login(client, manager).get(board_url())
    column = next(c for c in response.context["board"].columns if c.stage.name == "Contacted")
    assert column.count == 25 and len(column.cards) == 20 and column.more == 5
    keys = [(lead.score.total, lead.pk) for lead in column.cards]
    assert keys == sorted(keys, reverse=True)
    hottest = sorted(LeadScore.objects.filter(lead__in=leads).values_list("total", "lead_id"), reverse=True)[:20]
    assert keys == hottest
    html = response.content.decode()
    more = reverse("pages:board_stage", args=[stages["Contacted"].pipeline_id, stages["Contacted"].pk])
    assert f'{more}?page=2"' in html and "5 more leads" in html
    # The next page appends the rest to the column (htmx), or shows a page of its own.
    rest = client.get(more, {"page": 2}, **HTMX)
    assert rest.status_code == 200 and "<html" not in rest.content.decode()
    assert [lead.pk for lead in rest.context["column"].cards] == [
        pk for _total, pk in sorted(LeadScore.objects.filter(lead__in=leads).values_list("total", "lead_id"))[::-1]
    ][20:]
    assert not rest.context["column"].has_next
    full = client.get(more)
    assert full.status_code == 200 and "<html" in full.content.decode() and len(full.context["column"].cards) == 20


def test_stage_pages_are_scoped_and_404_for_unknown_stages(client, rep, board_leads, stages, pipeline):
    login(client, rep)
    new = reverse("pages:board_stage", args=[pipeline.pk, stages["New"].pk])
    for extra in ({}, HTMX):
        response = client.get(new, **extra)
        assert {lead.pk for lead in response.context["column"].cards} == {board_leads[1].pk}
    other = segment_services.create_pipeline(name="Other", stages=["Start"])
    assert client.get(reverse("pages:board_stage", args=[other.pk, stages["New"].pk])).status_code == 404
    assert client.get(reverse("pages:board_stage", args=[pipeline.pk, 999999]), **HTMX).status_code == 404


def test_pipeline_picker_remembers_the_choice(client, manager, pipeline, stages):
    other = segment_services.create_pipeline(name="Renewals", stages=["Due", "Renewed"])
    login(client, manager)
    assert client.get(board_url()).context["board"].pipeline == pipeline
    response = client.get(board_url(other))
    assert response.context["board"].pipeline == other
    assert f'?pipeline={pipeline.pk}"' in response.content.decode()  # a tab per pipeline
    assert client.get(board_url()).context["board"].pipeline == other
    assert client.get(reverse("pages:board"), {"pipeline": 999999}).status_code == 404


def test_board_without_pipelines_says_so(client, rep):
    response = login(client, rep).get(board_url())
    assert response.status_code == 200 and "No pipeline yet" in response.content.decode()


def test_board_sends_no_inline_script_or_style(client, rep, board_leads):
    html = login(client, rep).get(board_url()).content.decode()
    assert "<script>" not in html and "<style" not in html and " style=" not in html and " on" + "click" not in html
    assert "/static/app/app.js" in html


@pytest.mark.parametrize(("role", "expected"), [("rep", 9), ("manager", 8), ("marketer", 8)])
def test_board_query_count_does_not_grow_with_leads(
    client, rep, manager, marketer, stages, place, make_lead, rules, django_assert_num_queries, role, expected
):
    """session, user, pipelines, stages, roles, [a rep's team], counts, top ids, cards."""
    user = {"rep": rep, "manager": manager, "marketer": marketer}[role]
    login(client, user)
    for round_, per_stage in enumerate((1, 30)):
        leads = [make_lead(owner=rep) for _ in range(per_stage * 3)]
        for i, lead in enumerate(leads):
            place(lead, [stages["New"], stages["Contacted"], stages["Won"]][i % 3])
        score_leads(lead_ids=[lead.pk for lead in leads])
        # The first request stores the chosen pipeline in the session (savepoint, update, release).
        with django_assert_num_queries(expected + (3 if round_ == 0 else 0)):
            response = client.get(board_url())
        assert response.status_code == 200
        shown = sum(len(c.cards) for c in response.context["board"].columns)
        assert shown == (3 if per_stage == 1 else 3 * BOARD_CARDS_PER_COLUMN)


# --- moving a lead ---------------------------------------------------------------------------------


def move_url(lead):
    return reverse("pages:move_lead", args=[lead.pk])


def test_rep_moves_own_lead_with_htmx_and_gets_the_board_back(client, rep, board_leads, stages):
    rep_lead = board_leads[0]
    response = login(client, rep).post(move_url(rep_lead), {"stage": stages["Contacted"].pk}, **HTMX)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="board"') and "Ada Lovelace moved to Contacted." in html
    assert LeadPlacement.objects.get(lead=rep_lead).stage == stages["Contacted"]
    column = next(c for c in response.context["board"].columns if c.stage.name == "Contacted")
    assert [lead.pk for lead in column.cards] == [rep_lead.pk]


def test_moving_to_lost_without_a_reason_is_400_and_changes_nothing(client, rep, board_leads, stages):
    rep_lead = board_leads[0]
    login(client, rep)
    for extra in (HTMX, {}):
        response = client.post(move_url(rep_lead), {"stage": stages["Lost"].pk, "reason": " "}, **extra)
        assert response.status_code == 400
        html = response.content.decode()
        assert "Give a reason when a lead is lost." in html
        assert f'id="card-{rep_lead.pk}"' in html and '<details class="move" open>' in html
    assert response.context["form"].errors == {"reason": ["Give a reason when a lead is lost."]}
    htmx = client.post(move_url(rep_lead), {"stage": stages["Lost"].pk}, **HTMX)
    assert htmx["HX-Retarget"] == f"#card-{rep_lead.pk}" and htmx["HX-Reswap"] == "outerHTML"
    lead = Lead.objects.get(pk=rep_lead.pk)
    assert (lead.status, lead.status_reason) == (LeadStatus.NEW, "")
    assert LeadPlacement.objects.get(lead=rep_lead).stage == stages["Proposal"]
    assert StageVisit.objects.filter(lead=rep_lead).count() == 1


def test_moving_to_lost_with_a_reason_closes_the_lead(client, rep, board_leads, stages):
    rep_lead = board_leads[0]
    response = login(client, rep).post(
        move_url(rep_lead), {"stage": stages["Lost"].pk, "reason": "Chose a competitor"}, **HTMX
    )
    assert response.status_code == 200
    lead = Lead.objects.get(pk=rep_lead.pk)
    assert (lead.status, lead.status_reason) == (LeadStatus.LOST, "Chose a competitor")
    assert "Chose a competitor" in response.content.decode()  # the card in Lost shows why
    won = client.post(move_url(rep_lead), {"stage": stages["Won"].pk})
    assert won.status_code == 302 and won["Location"] == board_url(stages["Won"].pipeline)
    assert Lead.objects.get(pk=rep_lead.pk).status == LeadStatus.WON


def test_rep_gets_404_moving_another_reps_lead(client, rep, board_leads, stages):
    foreign = board_leads[2]
    login(client, rep)
    for extra in (HTMX, {}):
        response = client.post(move_url(foreign), {"stage": stages["Lost"].pk, "reason": "Mine now"}, **extra)
        assert response.status_code == 404
    assert client.post(reverse("pages:move_lead", args=[999999]), {"stage": stages["New"].pk}).status_code == 404
    lead = Lead.objects.get(pk=foreign.pk)
    assert lead.status == LeadStatus.NEW and LeadPlacement.objects.get(lead=foreign).stage == stages["New"]


def test_rep_may_move_a_team_pool_lead(client, rep, board_leads, stages):
    pool_lead = board_leads[1]
    response = login(client, rep).post(move_url(pool_lead), {"stage": stages["Contacted"].pk}, **HTMX)
    assert response.status_code == 200
    assert LeadPlacement.objects.get(lead=pool_lead).stage == stages["Contacted"]


def test_marketer_may_not_move(client, marketer, board_leads, stages):
    login(client, marketer)
    for extra in (HTMX, {}):
        response = client.post(move_url(board_leads[0]), {"stage": stages["Won"].pk}, **extra)
        assert response.status_code == 403
    assert Lead.objects.get(pk=board_leads[0].pk).status == LeadStatus.NEW


def test_manager_moves_any_lead(client, manager, board_leads, stages):
    response = login(client, manager).post(move_url(board_leads[2]), {"stage": stages["Won"].pk}, **HTMX)
    assert response.status_code == 200 and Lead.objects.get(pk=board_leads[2].pk).status == LeadStatus.WON


def test_move_refuses_stages_of_other_pipelines_and_leads_off_the_board(client, rep, board_leads, make_lead):
    other = segment_services.create_pipeline(name="Other", stages=["Start"]).stages.get()
    login(client, rep)
    response = client.post(move_url(board_leads[0]), {"stage": other.pk}, **HTMX)
    assert response.status_code == 400 and response.context["form"].errors["stage"]
    loose = make_lead(owner=rep)  # in no pipeline
    response = client.post(move_url(loose), {"stage": other.pk}, **HTMX)
    assert response.status_code == 400 and "This lead is on no pipeline." in response.content.decode()
    assert not LeadPlacement.objects.filter(lead=loose).exists()


def test_move_is_post_only(client, rep, board_leads):
    assert login(client, rep).get(move_url(board_leads[0])).status_code == 405


def test_user_without_role_sees_an_empty_board(client, board_leads):
    response = login(client, factories.UserFactory()).get(board_url())
    assert response.status_code == 200 and not card_ids(response)
