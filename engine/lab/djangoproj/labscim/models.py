"""The lab's Django models: django-scim2's SCIM mixins on a user and a group (app label labscim)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django_scim.models import AbstractSCIMGroupMixin, AbstractSCIMUserMixin


class Group(AbstractSCIMGroupMixin):
    name = models.CharField(max_length=254)

    class Meta:
        app_label = "labscim"


class User(AbstractSCIMUserMixin, AbstractUser):
    scim_groups = models.ManyToManyField(Group, related_name="user_set", blank=True)  # type: ignore[assignment]

    class Meta:
        app_label = "labscim"
