from supplychain_kit.serve import serve

from fulfilment.config import FulfilmentSettings
from fulfilment.main import create_app

settings = FulfilmentSettings()
serve(create_app(settings), settings)
