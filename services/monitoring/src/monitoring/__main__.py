import sys

from supplychain_kit.settings import load_settings

from monitoring.config import MonitoringSettings

# refused here (no environment, a missing key...) before the app's heavy imports
settings = load_settings(MonitoringSettings)

from supplychain_contracts.company_file import CompanyFileError  # noqa: E402
from supplychain_kit.serve import serve  # noqa: E402

from monitoring.main import create_app  # noqa: E402

try:
    app = create_app(settings)
except CompanyFileError as refused:  # every problem named by its path, no traceback to read
    sys.exit(f"monitoring cannot run this company's SLA policies and calendars: {refused}")
serve(app, settings)
