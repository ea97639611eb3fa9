//! The API over HTTP (facts §1.1): `/api` (full answers) and `/api2` (minimal), GET or POST.
//!
//! The request object comes from the body when `Content-Type` is `application/json`, else from
//! the `command` variable of the query string or a form-encoded POST body. Any other path that
//! carries a valid command object is treated like `/api`; without one it serves the web UI. The
//! answer is `200`, `text/javascript`, `JSON + "\n\n"`, or `name(JSON);` with a `callback` or
//! `jsonp` variable. Authorisation is remembered per TCP connection (`on_connect` gives each
//! connection its own flag). Bodies over [`MAX_BODY`] get `413`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use actix_web::http::header::{HeaderMap, CONTENT_TYPE};
use actix_web::http::Method;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpResponseBuilder, HttpServer};
use serde_json::{json, Map, Value};

use super::{auth, execute, ApiContext, Caller};
use crate::actors::supervisor::GetSnapshot;

/// Largest request body accepted (a whole config in one `streams` call fits easily).
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// How long an idle API connection (and its login) is kept.
const API_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// The per-connection authorisation flag.
#[derive(Clone)]
struct ConnAuth(Arc<AtomicBool>);

/// Starts the API server on an already bound listener.
pub fn serve(
    ctx: ApiContext,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_web::dev::Server> {
    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(ctx.clone()))
            .app_data(web::PayloadConfig::new(MAX_BODY))
            .route("/ws", web::get().to(websocket))
            .default_service(web::to(handle))
    })
    .on_connect(|conn, ext| {
        ext.insert(ConnAuth(Arc::new(AtomicBool::new(false))));
        if let Some(sock) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            if let Some(dup) = super::ws::ConnSocket::of(sock) {
                ext.insert(dup);
            }
        }
    })
    .workers(1)
    // Clients log in once per connection and keep it (MistServer's UI does): an idle API
    // connection stays open for minutes, not actix's default 5 s.
    .keep_alive(API_IDLE)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}

/// The caller's address, and whether it is local: one of this host's addresses, with neither
/// `X-Forwarded-For` nor `X-Real-IP` (facts §1.2).
fn peer_of(req: &HttpRequest) -> (IpAddr, bool) {
    let peer = req
        .peer_addr()
        .map(|a| a.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let headers = req.headers();
    let proxied = headers.contains_key("x-forwarded-for") || headers.contains_key("x-real-ip");
    (peer, !proxied && auth::is_local_address(peer))
}

/// `/ws`: the event feed ([`super::ws`]), logged in as an API request from the same caller.
async fn websocket(
    req: HttpRequest,
    body: web::Payload,
    ctx: web::Data<ApiContext>,
) -> actix_web::Result<HttpResponse> {
    let (peer, local) = peer_of(&req);
    let caller = Caller {
        peer,
        local,
        minimal: true,
        conn_auth: None,
        header_authorized: false,
    };
    super::ws::upgrade(req, body, ctx, caller).await
}

async fn handle(req: HttpRequest, body: web::Bytes, ctx: web::Data<ApiContext>) -> HttpResponse {
    if req.method() == Method::OPTIONS {
        return with_cors(HttpResponse::NoContent()).finish();
    }
    let headers = req.headers();
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mut vars: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes())
        .into_owned()
        .collect();
    if req.method() == Method::POST && content_type == "application/x-www-form-urlencoded" {
        vars.extend(form_urlencoded::parse(&body).into_owned());
    }
    let var = |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let request = if content_type == "application/json" {
        parse_object(&body)
    } else {
        var("command").and_then(|c| parse_object(c.as_bytes()))
    };
    let path = req.path();
    let minimal = path == "/api2";
    if request.is_none() && path != "/api" && path != "/api2" {
        if let Some(resp) = prometheus(&ctx, path, callback_var(&vars)).await {
            return resp;
        }
        return web_ui();
    }
    let request = request.unwrap_or_default();

    let (peer, local) = peer_of(&req);
    let conn_auth = req.conn_data::<ConnAuth>().map(|c| c.0.clone());
    let header_authorized = match authorization_header(headers) {
        Some(creds) if super::accounts_exist(&ctx).await => {
            if !super::header_login_ok(&ctx, &creds, peer).await {
                return not_authorized(&ctx, peer);
            }
            true
        }
        _ => false,
    };
    let caller = Caller {
        peer,
        local,
        minimal,
        conn_auth,
        header_authorized,
    };
    let answer = execute(&ctx, &request, &caller).await;
    reply(Value::Object(answer), callback_var(&vars).as_deref())
}

/// The JSONP callback a request names (`jsonp` or `callback`), cleaned.
fn callback_var(vars: &[(String, String)]) -> Option<String> {
    let var = |name: &str| {
        vars.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    var("jsonp")
        .or_else(|| var("callback"))
        .map(jsonp_name)
        .filter(|n| !n.is_empty())
}

/// Prometheus (manual §4.5): `/PASSPHRASE` in the text format, `/PASSPHRASE.json` as JSON (with
/// JSONP), when `config.prometheus` is set. Any other path, or no passphrase, is not ours.
async fn prometheus(
    ctx: &ApiContext,
    path: &str,
    callback: Option<String>,
) -> Option<HttpResponse> {
    let asked = path.strip_prefix('/')?;
    if asked.is_empty() {
        return None;
    }
    let snap = ctx.supervisor.send(GetSnapshot).await.ok()?;
    let pass = snap.config.config.prometheus.as_deref().unwrap_or("");
    if pass.is_empty() {
        return None;
    }
    let as_json = match asked.strip_suffix(".json") {
        Some(p) if p == pass => true,
        _ if asked == pass => false,
        _ => return None,
    };
    let scrape = crate::stats::prometheus::scrape(&ctx.stats, super::stats::figures(ctx, &snap));
    if as_json {
        let body = crate::stats::prometheus::json(&scrape).to_string();
        let body = match callback {
            Some(name) => format!("{name}({body});"),
            None => body,
        };
        return Some(
            with_cors(HttpResponse::Ok())
                .content_type("text/json")
                .body(body),
        );
    }
    Some(
        HttpResponse::Ok()
            .insert_header(("Server", crate::server_header()))
            .content_type("text/plain; version=0.0.4; charset=utf-8")
            .body(crate::stats::prometheus::text(&scrape)),
    )
}

/// Parses a JSON object; anything else (bad JSON, arrays, numbers) is no command at all.
fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Some(m),
        _ => None,
    }
}

/// `Authorization: json {"username":..,"password":..}` (facts §1.4).
fn authorization_header(headers: &HeaderMap) -> Option<Map<String, Value>> {
    let v = headers.get("authorization")?.to_str().ok()?;
    let rest = v.strip_prefix("json ")?;
    parse_object(rest.as_bytes())
}

fn not_authorized(ctx: &ApiContext, peer: IpAddr) -> HttpResponse {
    let challenge = ctx
        .challenger
        .challenge(&peer.to_string(), chrono::Utc::now().timestamp());
    let www = json!({"status": "CHALL", "challenge": challenge}).to_string();
    with_cors(HttpResponse::Forbidden())
        .insert_header(("WWW-Authenticate", format!("json {www}")))
        .content_type("text/plain")
        .body("Please login first or provide a valid token authentication.")
}

/// Keeps only characters a JavaScript callback name needs, so a caller cannot inject script.
fn jsonp_name(raw: &str) -> String {
    raw.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '$' | '.'))
        .take(128)
        .collect()
}

fn reply(answer: Value, callback: Option<&str>) -> HttpResponse {
    let json = answer.to_string();
    let body = match callback {
        Some(name) => format!("{name}({json});\n\n"),
        None => format!("{json}\n\n"),
    };
    with_cors(HttpResponse::Ok())
        .content_type("text/javascript")
        .body(body)
}

fn web_ui() -> HttpResponse {
    with_cors(HttpResponse::Ok())
        .insert_header(("X-Info", "To force an API response, request the file /api"))
        .content_type("text/html; charset=utf-8")
        .body(match crate::web::page() {
            std::borrow::Cow::Borrowed(page) => web::Bytes::from_static(page.as_bytes()),
            std::borrow::Cow::Owned(page) => web::Bytes::from(page),
        })
}

/// The CORS and no-cache headers every API answer carries (facts §0).
fn with_cors(mut b: HttpResponseBuilder) -> HttpResponseBuilder {
    for (k, v) in [
        ("Server", crate::server_header().as_str()),
        ("Access-Control-Allow-Origin", "*"),
        ("Access-Control-Allow-Credentials", "true"),
        ("Access-Control-Expose-Headers", "*"),
        ("Access-Control-Max-Age", "600"),
        ("Access-Control-Allow-Methods", "GET, POST, OPTIONS, HEAD"),
        ("Access-Control-Allow-Headers", "*"),
        ("Cache-Control", "no-cache, no-store, must-revalidate"),
        ("Pragma", "no-cache"),
        ("Expires", "0"),
    ] {
        b.insert_header((k, v.to_string()));
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_names_are_cleaned() {
        assert_eq!(jsonp_name("cb_1"), "cb_1");
        assert_eq!(jsonp_name("jQuery.fn$1"), "jQuery.fn$1");
        assert_eq!(jsonp_name("alert(1)//<script>"), "alert1script");
    }

    #[test]
    fn only_objects_are_commands() {
        assert!(parse_object(b"{\"a\":1}").is_some());
        for bad in [&b"[1]"[..], b"5", b"{", b"", b"\xff\xfe", b"null"] {
            assert!(parse_object(bad).is_none());
        }
    }
}
