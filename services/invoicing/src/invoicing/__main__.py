from supplychain_kit.serve import serve
from supplychain_kit.settings import load_settings

from invoicing.config import InvoicingSettings
from invoicing.main import create_app

settings = load_settings(InvoicingSettings)
serve(create_app(settings), settings)
