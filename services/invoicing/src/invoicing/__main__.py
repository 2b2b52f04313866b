from supplychain_kit.serve import serve

from invoicing.config import InvoicingSettings
from invoicing.main import create_app

settings = InvoicingSettings()
serve(create_app(settings), settings)
