"""Pages of the leads app (the capture pages are public; the rest need a login)."""

from django.urls import path

from . import views

app_name = "leads"
urlpatterns = [
    path("", views.home, name="home"),
    path("imports/", views.import_upload, name="import_upload"),
    path("imports/<int:job_id>/mapping/", views.import_mapping, name="import_mapping"),
    path("imports/<int:job_id>/", views.import_detail, name="import_detail"),
    path("imports/<int:job_id>/run/", views.import_run, name="import_run"),
    path("imports/<int:job_id>/report.csv", views.import_report, name="import_report"),
    path("capture/<slug:slug>/", views.capture_form_page, name="capture"),
    path("capture/<slug:slug>/thanks/", views.capture_thanks, name="capture_thanks"),
]
