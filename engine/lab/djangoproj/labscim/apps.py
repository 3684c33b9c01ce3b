from django.apps import AppConfig


class LabScimConfig(AppConfig):
    name = "labscim"
    label = "labscim"
    default_auto_field = "django.db.models.AutoField"
