import sys

from supplychain_contracts.company_file import CompanyFileError
from supplychain_kit.serve import serve
from supplychain_kit.settings import load_settings

from monitoring.config import MonitoringSettings
from monitoring.main import create_app

settings = load_settings(MonitoringSettings)
try:
    app = create_app(settings)
except CompanyFileError as refused:  # every problem named by its path, no traceback to read
    sys.exit(f"monitoring cannot run this company's SLA policies and calendars: {refused}")
serve(app, settings)
