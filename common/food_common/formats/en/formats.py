# Times to the second, ISO-like (Django's own "en" format shows "Jan. 5, 2026, 3:04 p.m.").
DATETIME_FORMAT = "Y-m-d H:i:s"
