//! What an RTSP request URL names: `rtsp://host[:port]/STREAM[/trackN][?query]`.
//!
//! The first path segment is the stream (wildcard streams as `base+name`); a second segment is
//! a media section's control (`track<ID>`, as Eddy's SDP writes them, or `trackID=<ID>`,
//! `streamid=<n>` from other writers). The query carries the publishing passphrase (`pass`,
//! `pw` or `password`, the same `push://` rules as RTMP's application name) and, for viewers,
//! the track choices every output takes (`?audio=`, `?video=`).

/// A parsed request URL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RtspUrl {
    pub stream: String,
    /// The media control segment after the stream, if any.
    pub control: Option<String>,
    /// The query string without `?`.
    pub query: String,
}

impl RtspUrl {
    /// Reads `url` (absolute `rtsp://` or a bare path). `None` when it names no stream.
    pub fn parse(url: &str) -> Option<RtspUrl> {
        let rest = match url.split_once("://") {
            Some((_, r)) => r.split_once('/').map_or("", |(_, p)| p),
            None => url.trim_start_matches('/'),
        };
        let (path, mut query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut segments = path.split('/').filter(|s| !s.is_empty());
        let stream = segments.next()?.to_string();
        let mut control = segments.next().map(String::from);
        // ffmpeg appends a media's control to the whole URL, query and all:
        // `rtsp://h/cam?pass=x/streamid=0`.
        if control.is_none() {
            if let Some((q, c)) = query.rsplit_once('/') {
                control = Some(c.to_string()).filter(|c| !c.is_empty());
                query = q;
            }
        }
        Some(RtspUrl {
            stream,
            control,
            query: query.to_string(),
        })
    }

    /// The passphrase a publisher gives in the query.
    pub fn passphrase(&self) -> String {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| matches!(k.as_ref(), "pass" | "pw" | "password"))
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    }

    /// The track id a control names (`track3`, `trackID=3`, `streamid=2` → the third media
    /// section's id is not known here, so only forms with an id are read).
    pub fn track_id(&self) -> Option<u32> {
        let c = self.control.as_deref()?;
        let digits = c
            .strip_prefix("trackID=")
            .or_else(|| c.strip_prefix("trackid="))
            .or_else(|| c.strip_prefix("track"))?;
        digits.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_control_and_passphrase() {
        let u = RtspUrl::parse("rtsp://h:5554/live+cam/track2?pass=s3cret").unwrap();
        assert_eq!(u.stream, "live+cam");
        assert_eq!(u.control.as_deref(), Some("track2"));
        assert_eq!(u.track_id(), Some(2));
        assert_eq!(u.passphrase(), "s3cret");
        let u = RtspUrl::parse("rtsp://h/live/trackID=1").unwrap();
        assert_eq!(u.track_id(), Some(1));
        let u = RtspUrl::parse("rtsp://[::1]:5554/s?audio=none").unwrap();
        assert_eq!((u.stream.as_str(), u.query.as_str()), ("s", "audio=none"));
        assert_eq!(u.passphrase(), "");
        assert_eq!(RtspUrl::parse("rtsp://h:5554/"), None);
        assert_eq!(
            RtspUrl::parse("*"),
            Some(RtspUrl {
                stream: "*".into(),
                ..Default::default()
            })
        );
        assert_eq!(RtspUrl::parse("rtsp://h/s/other").unwrap().track_id(), None);
        let u = RtspUrl::parse("rtsp://h/cam?pass=x/streamid=1").unwrap();
        assert_eq!(u.control.as_deref(), Some("streamid=1"));
        assert_eq!(u.passphrase(), "x");
    }
}
