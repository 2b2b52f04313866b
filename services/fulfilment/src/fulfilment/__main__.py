from supplychain_kit.serve import serve
from supplychain_kit.settings import load_settings

from fulfilment.config import FulfilmentSettings
from fulfilment.main import create_app

settings = load_settings(FulfilmentSettings)
serve(create_app(settings), settings)
