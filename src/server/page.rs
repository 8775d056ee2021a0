//! The media page at `/`: the library as plain server-rendered HTML, newest
//! first. Each video shows its cover (without one, its player shows the
//! first frame), its name, fileId, size, upload time (UTC) and an HTML5
//! `<video>` player on its playback URL. No external assets; every value is
//! HTML-escaped. A small inline script records each player's `duration` into
//! its `data-duration` attribute on `loadedmetadata` (and `data-error` on
//! error), so a headless browser's DOM dump shows whether the video plays.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use axum::response::Response;

use super::app::App;
use super::respond::plain;
use super::store::MediaRow;

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A byte count for people: `1.5 MiB`, `312 B`.
pub fn human_size(n: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian).
pub fn utc_time(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;background:#f4f4f4;color:#222}\
h1{font-size:1.4em}ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}\
li.media{background:#fff;border:1px solid #ccc;border-radius:6px;padding:.8em;width:340px}\
.cover{width:320px;height:180px;object-fit:cover;display:block;background:#333}\
video{width:320px;margin-top:.5em;background:#000}\
.name{font-weight:bold;word-break:break-all;margin:.4em 0 .2em}\
dl{display:grid;grid-template-columns:auto 1fr;gap:.1em .6em;margin:.2em 0;font-size:.85em}\
dt{color:#666}dd{margin:0;word-break:break-all}";

const SCRIPT: &str = "document.querySelectorAll('video').forEach(function(v){\
function meta(){v.setAttribute('data-duration',String(v.duration));}\
if(v.readyState>=1){meta();}\
v.addEventListener('loadedmetadata',meta);\
v.addEventListener('error',function(){v.setAttribute('data-error',\
String(v.error&&v.error.code));});});";

/// Renders the page for `media` (videos and covers, any order).
pub fn render(public_url: &str, media: &[MediaRow]) -> String {
    let url = |m: &MediaRow| format!("{public_url}{}", m.url_path);
    let mut videos: Vec<&MediaRow> = media.iter().filter(|m| m.kind != "cover").collect();
    videos.sort_by(|a, b| {
        b.created_at
            .cmp(&a.created_at)
            .then(b.file_id.cmp(&a.file_id))
    });
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>vodfs media library</title><style>{STYLE}</style></head><body>\n\
         <h1>vodfs media library</h1>\n<p id=\"count\">{} media</p>\n<ul>\n",
        videos.len()
    );
    for v in &videos {
        let cover = v
            .cover_file_id
            .as_ref()
            .and_then(|c| media.iter().find(|m| &m.file_id == c));
        let id = escape(&v.file_id);
        let _ = write!(
            h,
            "<li class=\"media\" id=\"media-{id}\" data-file-id=\"{id}\">"
        );
        // Without a cover the player below shows the first frame.
        if let Some(c) = cover {
            let _ = write!(
                h,
                "<img class=\"cover\" src=\"{}\" alt=\"cover of {}\">",
                escape(&url(c)),
                escape(&v.name)
            );
        }
        let _ = write!(
            h,
            "<div class=\"name\">{}</div><dl>\
             <dt>fileId</dt><dd class=\"file-id\">{id}</dd>\
             <dt>size</dt><dd class=\"size\" data-bytes=\"{}\">{}</dd>\
             <dt>uploaded</dt><dd class=\"uploaded\">{}</dd>\
             <dt>type</dt><dd>{}</dd><dt>cover</dt><dd>{}</dd></dl>\
             <video controls preload=\"metadata\" src=\"{}\"></video></li>",
            escape(&v.name),
            v.size,
            escape(&human_size(v.size)),
            escape(&utc_time(v.created_at)),
            escape(&v.file_type),
            match cover {
                Some(c) => escape(&c.file_id),
                None => "none (the player shows the first frame)".into(),
            },
            escape(&url(v)),
        );
        h.push('\n');
    }
    if videos.is_empty() {
        h.push_str("<li>No media yet: copy a video into a vodfs mount.</li>\n");
    }
    let _ = write!(h, "</ul>\n<script>{SCRIPT}</script>\n</body></html>\n");
    h
}

/// `GET /` (and `HEAD /`).
pub async fn handle(app: Arc<App>, method: &Method) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET or HEAD only");
    }
    let media = match app.db(|s| s.list_media()).await {
        Ok(m) => m,
        Err(e) => return plain(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    };
    let html = render(&app.cfg.public_url, &media);
    let len = html.len();
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from(html)
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
        .header(header::CONTENT_LENGTH, len)
        .header(header::CACHE_CONTROL, "no-store")
        .header(
            "content-security-policy",
            "default-src 'none'; img-src 'self' http: https:; media-src 'self' http: https:; \
             style-src 'unsafe-inline'; script-src 'unsafe-inline'",
        )
        .body(body)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(id: &str, name: &str, kind: &str, cover: Option<&str>, at: u64) -> MediaRow {
        MediaRow {
            file_id: id.into(),
            secret_id: String::new(),
            kind: kind.into(),
            parent: None,
            name: name.into(),
            file_type: "mp4".into(),
            size: 1536,
            sha1: String::new(),
            md5: String::new(),
            class_id: 0,
            tags: vec![],
            procedure: String::new(),
            source_context: String::new(),
            flow: "A".into(),
            created_at: at,
            url_path: format!("/vod/{id}.mp4"),
            cover_file_id: cover.map(str::to_string),
        }
    }

    #[test]
    fn escapes_everything_it_shows() {
        let html = render(
            "http://h",
            &[media(
                "1",
                "<script>alert('x')</script>&\"",
                "video",
                None,
                0,
            )],
        );
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    }

    #[test]
    fn lists_videos_newest_first_with_covers() {
        let all = [
            media("10", "old.mp4", "video", None, 100),
            media("11", "new.mp4", "video", Some("12"), 200),
            media("12", "c.jpg", "cover", None, 200),
        ];
        let html = render("http://h", &all);
        assert!(html.contains("<p id=\"count\">2 media</p>"));
        let (new, old) = (html.find("new.mp4").unwrap(), html.find("old.mp4").unwrap());
        assert!(new < old);
        assert!(html.contains("<img class=\"cover\" src=\"http://h/vod/12.mp4\""));
        assert!(html.contains("src=\"http://h/vod/10.mp4\""));
        assert!(html.contains("1.5 KiB"));
    }

    #[test]
    fn times_are_utc_dates() {
        assert_eq!(utc_time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(utc_time(951_782_400), "2000-02-29 00:00:00 UTC");
    }
}
