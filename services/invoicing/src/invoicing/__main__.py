from supplychain_kit.settings import load_settings

from invoicing.config import InvoicingSettings

# refused here (no environment, a missing key...) before the app's heavy imports
settings = load_settings(InvoicingSettings)

from supplychain_kit.serve import serve  # noqa: E402

from invoicing.main import create_app  # noqa: E402

serve(create_app(settings), settings)
