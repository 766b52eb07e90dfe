"""Regenerate the committed templates from their definitions: python scripts/build_templates.py"""

from pathlib import Path

from safeguard.forms.template import build_form_template

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    print(build_form_template(ROOT / "templates" / "health_alert_form.xlsx"))
