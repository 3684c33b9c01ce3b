from django.apps import AppConfig


class LabScimConfig(AppConfig):
    name = "hybridsync.engine.lab.django_scim_app"
    label = "labscim"
    default_auto_field = "django.db.models.AutoField"
