"""Turkish formats: Django's, with numeric short dates (31.12.2027) as Turkish users expect."""

from django.conf.locale.tr.formats import *  # noqa: F403

DATE_FORMAT = "j F Y"  # 31 Aralık 2027
DATETIME_FORMAT = "j F Y H:i"  # 31 Aralık 2027 14:05
SHORT_DATE_FORMAT = "d.m.Y"  # 31.12.2027
SHORT_DATETIME_FORMAT = "d.m.Y H:i"  # 31.12.2027 14:05
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"  # Aralık 2027
MONTH_DAY_FORMAT = "j F"
# Dates typed into forms: the numeric Turkish form first, then Django's Turkish inputs.
DATE_INPUT_FORMATS = ["%d.%m.%Y", "%d.%m.%y", "%Y-%m-%d", *DATE_INPUT_FORMATS]  # noqa: F405
