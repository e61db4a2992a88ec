"""URLs of the browser app (mounted at the site root, before the leads app's pages)."""

from django.urls import path

from . import views
from .analytics import analytics_page

app_name = "pages"
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("queue/", views.work_queue, name="work_queue"),
    path("leads/", views.lead_list, name="lead_list"),
    path("leads/<int:lead_id>/", views.lead_detail, name="lead_detail"),
    path("leads/<int:lead_id>/score/", views.lead_score_panel, name="lead_score"),
    path("leads/<int:lead_id>/bant/<slug:criterion>/", views.save_bant, name="save_bant"),
    path("analytics/", analytics_page, name="analytics"),
    path("leads/<int:lead_id>/stage/", views.move_lead, name="move_lead"),
    path("leads/assign/", views.bulk_assign, name="bulk_assign"),
    path("board/", views.board, name="board"),
    path("board/<int:pipeline_id>/stages/<int:stage_id>/", views.board_stage, name="board_stage"),
    path("queues/", views.queue_list, name="queue_list"),
    path("queues/<int:queue_id>/", views.queue_detail, name="queue_detail"),
]
