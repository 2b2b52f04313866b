from supplychain_kit.serve import serve

from monitoring.config import MonitoringSettings
from monitoring.main import create_app

settings = MonitoringSettings()
serve(create_app(settings), settings)
