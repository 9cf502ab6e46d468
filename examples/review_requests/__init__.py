"""Asking the buyer for a review once their order completes: a consumer of the marketplace's
events, as a reviews service would write it. Run it with

    KAFKA_ENABLED=true marketplace consume examples.review_requests.service:MarketplaceEventHandler
"""
