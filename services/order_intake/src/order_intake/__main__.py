from supplychain_kit.serve import serve

from order_intake.config import OrderIntakeSettings
from order_intake.main import create_app

settings = OrderIntakeSettings()
serve(create_app(settings), settings)
