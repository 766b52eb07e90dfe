"""Regenerate the committed templates from their definitions: python scripts/build_templates.py"""

from pathlib import Path

from safeguard.adapters.config_files import load_config
from safeguard.adapters.workbooks.fgm_template import build_fgm_template
from safeguard.adapters.workbooks.form_template import build_form_template

ROOT = Path(__file__).resolve().parents[1]

if __name__ == "__main__":
    print(build_form_template(ROOT / "templates" / "health_alert_form.xlsx"))
    print(build_fgm_template(load_config(ROOT / "config").fgm, ROOT / "templates" / "fgm_submission.xlsx"))
