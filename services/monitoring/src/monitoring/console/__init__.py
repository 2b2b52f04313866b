"""The operator console at `GET /console`: what it shows and the pure rules shaping it (model),
its routes and rendering (api), its reads (store), templates and static assets."""
