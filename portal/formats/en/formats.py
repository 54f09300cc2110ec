"""English formats: Django's, with day-month-year dates and a 24-hour clock."""

from django.conf.locale.en.formats import *  # noqa: F403

DATE_FORMAT = "j F Y"  # 31 December 2027
DATETIME_FORMAT = "j F Y, H:i"  # 31 December 2027, 14:05
SHORT_DATE_FORMAT = "d M Y"  # 31 Dec 2027
SHORT_DATETIME_FORMAT = "d M Y H:i"  # 31 Dec 2027 14:05
TIME_FORMAT = "H:i"
YEAR_MONTH_FORMAT = "F Y"  # December 2027
MONTH_DAY_FORMAT = "j F"
