import sys

from supplychain_contracts.company_file import CompanyFileError
from supplychain_kit.serve import serve
from supplychain_kit.settings import load_settings

from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app

settings = load_settings(OrderIntakeSettings)
try:
    app = create_app(settings)
except CompanyFileError as refused:  # nothing is loaded: say what to fix, every problem
    print(f"order-intake: the company is refused: {refused}", file=sys.stderr)
    raise SystemExit(1) from None
serve(app, settings)
