import sys

from supplychain_kit.settings import load_settings

from order_intake.config import OrderIntakeSettings

# refused here (no environment, a missing key...) before the app's heavy imports
settings = load_settings(OrderIntakeSettings)

from supplychain_contracts.company_file import CompanyFileError  # noqa: E402
from supplychain_kit.serve import serve  # noqa: E402

from order_intake.main import create_app  # noqa: E402

try:
    app = create_app(settings)
except CompanyFileError as refused:  # nothing is loaded: say what to fix, every problem
    print(f"order-intake: the company is refused: {refused}", file=sys.stderr)
    raise SystemExit(1) from None
serve(app, settings)
