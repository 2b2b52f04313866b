#!/bin/sh
# Selects the service to run: the first argument if it names one, else $SUPPLYCHAIN_SERVICE
# (set from the image's SERVICE build argument). Any other command is run as given.
set -eu

module_of() {
    case "$1" in
        order-intake|order_intake) echo order_intake ;;
        fulfilment) echo fulfilment ;;
        invoicing) echo invoicing ;;
        monitoring) echo monitoring ;;
        *) return 1 ;;
    esac
}

if [ "$#" -gt 0 ]; then
    if module="$(module_of "$1")"; then
        shift
        exec python -m "$module" "$@"
    fi
    exec "$@"
fi

if ! module="$(module_of "${SUPPLYCHAIN_SERVICE:-}")"; then
    echo "supplychain-entrypoint: unknown service '${SUPPLYCHAIN_SERVICE:-}'" >&2
    echo "  expected one of: order-intake fulfilment invoicing monitoring" >&2
    exit 64
fi
exec python -m "$module"
