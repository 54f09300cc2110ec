"""The portal's date and number formats per language (``FORMAT_MODULE_PATH``).

Each module starts from Django's own locale formats and changes only what the portal shows
differently: unambiguous short dates in tables ("31 Dec 2027" in English, "31.12.2027" in
Turkish) and a 24-hour clock in both languages. License files do not use these: they keep
the FlexLM dialect (``activations.licensefile``).
"""
