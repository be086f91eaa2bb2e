// portcullis/fallback: legacy transports (window.name, JSONP), never in the core bundle.
export {}
