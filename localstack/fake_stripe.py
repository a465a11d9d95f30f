"""A loopback Stripe stand-in for the dev stack: the API calls we make
(openparty/stripe_gateway.py), answered in Stripe's shapes, kept in memory.

Object shapes follow Stripe's API reference ("The PaymentIntent object", "The
Account object", "The Account Link object", "The Customer object", "The
Checkout Session object", API version 2026-10-28 pinned by stripe-python 16),
fields documented as nullable present as null. Requests are form-encoded with
bracketed keys (`metadata[tip_id]=...`) as stripe-python sends them; a missing
or wrong secret key is a 401 and an unknown object a 404 in Stripe's error
shape; an `Idempotency-Key` replays the first answer, as Stripe does for 24 h.

Not Stripe: `/_local/...` routes move an object's state for scripts/send-event
(a PaymentIntent succeeds or fails, an account completes onboarding).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

API_VERSION = "2026-10-28.endive"


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


def parse_form(body: bytes) -> dict[str, Any]:
    """a[b][0][c]=x → {"a": {"b": [{"c": "x"}]}} (Stripe's form encoding)."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body.decode(), keep_blank_values=True):
        parts = key.replace("]", "").split("[")
        node: Any = root
        for part, following in zip(parts, [*parts[1:], None], strict=True):
            if following is None:
                if isinstance(node, list):
                    node.append(value)
                else:
                    node[part] = value
                break
            child: Any = [] if following.isdigit() else {}
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(child if len(node) == index else {})
                node = node[index]
            else:
                node = node.setdefault(part, child)
    parsed: dict[str, Any] = _lists(root)
    return parsed


def _lists(node: Any) -> Any:
    """Dicts keyed 0..n (a sparse form) become lists."""
    if isinstance(node, dict):
        converted = {key: _lists(value) for key, value in node.items()}
        if converted and all(key.isdigit() for key in converted):
            return [converted[key] for key in sorted(converted, key=int)]
        return converted
    if isinstance(node, list):
        return [_lists(item) for item in node]
    return node


def stripe_error(status: int, message: str, kind: str = "invalid_request_error", **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"type": kind, "message": message, **extra}}, status,
                        headers={"request-id": new_id("req")})


class FakeStripe:
    def __init__(self, secret_key: str, public_url: str) -> None:
        self.secret_key, self.public_url = secret_key, public_url.rstrip("/")
        self.objects: dict[str, dict[str, Any]] = {}
        self.replays: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []

    # --- the objects, as the API reference shows them ---

    def payment_intent(self, form: dict[str, Any]) -> dict[str, Any]:
        intent_id = new_id("pi")
        return {
            "id": intent_id, "object": "payment_intent",
            "amount": int(form["amount"]), "amount_capturable": 0, "amount_details": {"tip": {}},
            "amount_received": 0, "application": None,
            "application_fee_amount": int(form["application_fee_amount"]) if "application_fee_amount" in form else None,
            "automatic_payment_methods": {"allow_redirects": "always", "enabled": True}
            if form.get("automatic_payment_methods", {}).get("enabled") == "true" else None,
            "canceled_at": None, "cancellation_reason": None, "capture_method": "automatic_async",
            "client_secret": f"{intent_id}_secret_{secrets.token_hex(12)}", "confirmation_method": "automatic",
            "created": int(time.time()), "currency": form["currency"], "customer": form.get("customer"),
            "description": form.get("description"), "last_payment_error": None, "latest_charge": None,
            "livemode": False, "metadata": form.get("metadata", {}), "next_action": None, "on_behalf_of": None,
            "payment_method": None, "payment_method_configuration_details": None,
            "payment_method_options": {"card": {"installments": None, "mandate_options": None, "network": None,
                                                "request_three_d_secure": "automatic"}},
            "payment_method_types": ["card", "link"], "processing": None, "receipt_email": None, "review": None,
            "setup_future_usage": None, "shipping": None, "source": None, "statement_descriptor": None,
            "statement_descriptor_suffix": None, "status": "requires_payment_method",
            "transfer_data": form.get("transfer_data"), "transfer_group": None,
        }

    def account(self, form: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id("acct"), "object": "account",
            "business_profile": {"mcc": None, "name": None, "product_description": None, "support_address": None,
                                 "support_email": None, "support_phone": None, "support_url": None, "url": None},
            "business_type": None,
            "capabilities": {name: "inactive" for name in form.get("capabilities", {})},
            "charges_enabled": False, "controller": {
                "fees": {"payer": "application"}, "is_controller": True, "losses": {"payments": "application"},
                "requirement_collection": "stripe", "stripe_dashboard": {"type": "express"}, "type": "application"},
            "country": "US", "created": int(time.time()), "default_currency": "usd", "details_submitted": False,
            "email": form.get("email"), "external_accounts": {"object": "list", "data": [], "has_more": False,
                                                              "total_count": 0, "url": "/v1/accounts/x/external_accounts"},
            "future_requirements": {"alternatives": [], "current_deadline": None, "currently_due": [],
                                    "disabled_reason": None, "errors": [], "eventually_due": [], "past_due": [],
                                    "pending_verification": []},
            "metadata": form.get("metadata", {}), "payouts_enabled": False,
            "requirements": {"alternatives": [], "current_deadline": None,
                             "currently_due": ["business_type", "external_account", "tos_acceptance.date"],
                             "disabled_reason": "requirements.past_due", "errors": [],
                             "eventually_due": ["business_type", "external_account", "tos_acceptance.date"],
                             "past_due": ["business_type", "external_account", "tos_acceptance.date"],
                             "pending_verification": []},
            "settings": None, "tos_acceptance": {"date": None, "ip": None, "user_agent": None}, "type": "express",
        }

    def account_link(self, form: dict[str, Any]) -> dict[str, Any]:
        created = int(time.time())
        return {"object": "account_link", "created": created, "expires_at": created + 300,
                "url": f"{self.public_url}/_local/onboarding/{form['account']}"}

    def customer(self, form: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": new_id("cus"), "object": "customer", "address": None, "balance": 0, "created": int(time.time()),
            "currency": None, "default_source": None, "delinquent": False, "description": None, "discount": None,
            "email": form.get("email"), "invoice_prefix": secrets.token_hex(4).upper(),
            "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                                 "rendering_options": None},
            "livemode": False, "metadata": form.get("metadata", {}), "name": None, "phone": None,
            "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
        }

    def checkout_session(self, form: dict[str, Any]) -> dict[str, Any]:
        session_id = "cs_test_" + secrets.token_hex(24)
        created = int(time.time())
        return {
            "id": session_id, "object": "checkout.session", "amount_subtotal": None, "amount_total": None,
            "cancel_url": form.get("cancel_url"), "client_reference_id": form.get("client_reference_id"),
            "created": created, "currency": None, "customer": form.get("customer"), "customer_email": None,
            "expires_at": created + 24 * 3600, "invoice": None, "livemode": False,
            "metadata": form.get("metadata", {}), "mode": form.get("mode"), "payment_intent": None,
            "payment_status": "unpaid", "status": "open", "subscription": None,
            "success_url": form.get("success_url"), "url": f"{self.public_url}/_local/checkout/{session_id}",
        }

    def billing_portal_session(self, form: dict[str, Any]) -> dict[str, Any]:
        session_id = new_id("bps")
        return {  # shape: stripe/openapi fixtures3.json, billing_portal.session
            "id": session_id, "object": "billing_portal.session", "configuration": new_id("bpc"),
            "created": int(time.time()), "customer": form.get("customer"), "flow": None, "livemode": False,
            "locale": None, "on_behalf_of": None, "return_url": form.get("return_url"),
            "url": f"{self.public_url}/_local/billing_portal/{session_id}",
        }

    def login_link(self, account_id: str) -> dict[str, Any]:
        # shape: stripe/openapi fixtures3.json, login_link
        return {"object": "login_link", "created": int(time.time()),
                "url": f"{self.public_url}/_local/express/{account_id}"}

    # --- the app ---

    def app(self) -> FastAPI:
        app = FastAPI(title="Local Stripe stand-in", docs_url=None, redoc_url=None, openapi_url=None)
        creators = {"payment_intents": self.payment_intent, "accounts": self.account,
                    "account_links": self.account_link, "customers": self.customer,
                    "checkout/sessions": self.checkout_session, "billing_portal/sessions": self.billing_portal_session}

        def authorized(request: Request) -> bool:
            return request.headers.get("authorization", "") == f"Bearer {self.secret_key}"

        async def create(request: Request) -> JSONResponse:
            if not authorized(request):
                return stripe_error(401, "Invalid API Key provided.")
            kind = request.url.path.removeprefix("/v1/")
            key = request.headers.get("idempotency-key")
            if key and (kind, key) in self.replays:
                return JSONResponse(self.replays[(kind, key)],
                                    headers={"idempotent-replayed": "true"})
            self.requests.append(("POST", request.url.path))
            obj = creators[kind](parse_form(await request.body()))
            if "id" in obj:
                self.objects[obj["id"]] = obj
            if key:
                self.replays[(kind, key)] = obj
            return JSONResponse(obj, headers={"request-id": new_id("req"), "stripe-version": API_VERSION})

        for path in creators:
            app.add_api_route(f"/v1/{path}", create, methods=["POST"])

        @app.get("/v1/payment_intents/search")
        async def search(request: Request) -> JSONResponse:
            """Only the query reconciliation makes: metadata['tip_id']:'<uuid>'."""
            if not authorized(request):
                return stripe_error(401, "Invalid API Key provided.")
            query = request.query_params.get("query", "")
            found = [obj for obj in self.objects.values() if obj.get("object") == "payment_intent"
                     and f"metadata['tip_id']:'{obj.get('metadata', {}).get('tip_id')}'" == query]
            return JSONResponse({"object": "search_result", "data": found[:1], "has_more": False,
                                 "next_page": None, "url": "/v1/payment_intents/search"})

        @app.post("/v1/payment_intents/{intent_id}/cancel")
        async def cancel(request: Request, intent_id: str) -> JSONResponse:
            if not authorized(request):
                return stripe_error(401, "Invalid API Key provided.")
            intent = self.objects.get(intent_id)
            if intent is None:
                return stripe_error(404, f"No such payment_intent: '{intent_id}'", code="resource_missing")
            if intent["status"] in ("succeeded", "canceled"):
                return stripe_error(400, f"This PaymentIntent's status is {intent['status']}, but must be one of "
                                         "requires_payment_method, requires_capture, requires_confirmation, "
                                         "requires_action, processing.", code="payment_intent_unexpected_state")
            reason = parse_form(await request.body()).get("cancellation_reason")
            intent.update(status="canceled", canceled_at=int(time.time()), cancellation_reason=reason)
            return JSONResponse(intent, headers={"request-id": new_id("req")})

        @app.post("/v1/accounts/{account_id}/login_links")
        async def login_link(request: Request, account_id: str) -> JSONResponse:
            if not authorized(request):
                return stripe_error(401, "Invalid API Key provided.")
            if account_id not in self.objects:
                return stripe_error(404, f"No such account: '{account_id}'", code="resource_missing")
            return JSONResponse(self.login_link(account_id), headers={"request-id": new_id("req")})

        @app.get("/v1/{kind}/{object_id}")
        async def retrieve(request: Request, kind: str, object_id: str) -> JSONResponse:
            if not authorized(request):
                return stripe_error(401, "Invalid API Key provided.")
            obj = self.objects.get(object_id)
            if obj is None:
                return stripe_error(404, f"No such {kind.rstrip('s')}: '{object_id}'", code="resource_missing")
            return JSONResponse(obj, headers={"request-id": new_id("req")})

        @app.post("/_local/payment_intents/{intent_id}/{outcome}")
        async def settle(intent_id: str, outcome: str) -> JSONResponse:
            intent = self.objects.get(intent_id)
            if intent is None or outcome not in ("succeeded", "payment_failed", "canceled"):
                return stripe_error(404, f"No such payment_intent: '{intent_id}'")
            if outcome == "succeeded":
                intent.update(status="succeeded", amount_received=intent["amount"],
                              latest_charge="ch_" + intent_id.removeprefix("pi_"), payment_method=new_id("pm"))
            elif outcome == "payment_failed":
                intent.update(status="requires_payment_method", last_payment_error={
                    "code": "card_declined", "decline_code": "generic_decline", "type": "card_error",
                    "message": "Your card was declined."})
            else:
                intent.update(status="canceled", canceled_at=int(time.time()), cancellation_reason="requested_by_customer")
            return JSONResponse(intent)

        @app.api_route("/_local/onboarding/{account_id}", methods=["GET", "POST"])
        async def onboard(account_id: str) -> JSONResponse:
            account = self.objects.get(account_id)
            if account is None:
                return stripe_error(404, f"No such account: '{account_id}'")
            account.update(charges_enabled=True, payouts_enabled=True, details_submitted=True,
                           capabilities={name: "active" for name in account["capabilities"]})
            account["requirements"].update(currently_due=[], eventually_due=[], past_due=[], disabled_reason=None)
            return JSONResponse(account)

        @app.get("/_local/checkout/{session_id}")
        async def checkout_page(session_id: str) -> JSONResponse:
            session = self.objects.get(session_id)
            if session is None:
                return stripe_error(404, f"No such checkout.session: '{session_id}'")
            return JSONResponse({"message": "Local stand-in: no card form. Complete the purchase with "
                                            "scripts/send-event customer.subscription.created --user <username>",
                                 "session": session})

        @app.get("/_local/billing_portal/{session_id}")
        async def portal_page(session_id: str) -> JSONResponse:
            session = self.objects.get(session_id)
            if session is None:
                return stripe_error(404, f"No such billing_portal.session: '{session_id}'")
            return JSONResponse({"message": "Local stand-in: no customer portal. Change a plan with "
                                            "scripts/send-event customer.subscription.updated", "session": session})

        @app.get("/_local/express/{account_id}")
        async def express_page(account_id: str) -> JSONResponse:
            return JSONResponse({"message": "Local stand-in: no Express dashboard.", "account": account_id})

        @app.api_route("/{path:path}", methods=["GET", "POST", "DELETE"])
        async def unknown(path: str) -> JSONResponse:
            return stripe_error(404, f"Unrecognized request URL (/{path}). The local stand-in implements only "
                                     "the calls OpenParty makes.")

        return app
