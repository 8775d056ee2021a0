//! `man/vodfs.1`, generated from the clap definition (so every subcommand
//! and option in `--help` is in the page) plus the hand-written sections
//! clap does not know: xattrs, files, environment, exit status, examples.
//!
//! A unit test keeps the committed page in sync: it fails when `man/vodfs.1`
//! differs from [`render`]; `VODFS_UPDATE_MAN=1 cargo test manpage` rewrites
//! it.

use clap::CommandFactory;

use crate::cli::Cli;

/// The sections after the generated ones, in roff.
const EXTRA: &str = r#".SH EXTENDED ATTRIBUTES
Every file in a mount carries, read-only:
.TP
.B user.vod.state
staged, hashing, uploading, committing, committed or failed; for an image
(.jpg, .jpeg, .png), image or cover (see COVERS).
.TP
.B user.vod.progress
parts and bytes the service holds, of the total.
.TP
.B user.vod.error
why the last commit failed: the action, the service's code and message.
.TP
.B user.vod.url
the playback URL (after commit).
.TP
.B user.vod.file_id
the service's fileId; the same media appears as by-id/FILEID.
.TP
.B user.vod.sha1
SHA-1 of the committed content.
.TP
.B user.vod.name
the name the service knows (file name without extension, made valid; the
whole name when the extension is not a type the service takes).
.TP
.B user.vod.cover_url
the cover's URL, when the media has a cover.
.TP
.B user.vod.cover_error
on a committed video whose cover could not be sent: why.
.PP
Set on a file before its close,
.B user.vod.cover
names its cover: a path relative to the file's directory (EINVAL for an
absolute path, one leading out of the mount, or a non-image).
.PP
Other user.* attributes are stored and listed (setfattr, rsync -X,
cp --preserve=xattr). security.* and system.* answer ENODATA.
.SH UPLOAD FLOWS AND SETTINGS
\fB\-\-protocol\fR picks how files reach the service; every flow keeps the
same filesystem behaviour. api3 (default) is the cloud's current interface (API 3.0 on
vod.tencentcloudapi.com: ApplyUpload signed with TC3-HMAC-SHA256, the object
storage with the session's temporary credential, CommitUpload; \fB\-\-region\fR,
\fB\-\-sub\-app\-id\fR); when its temporary credential would run out mid-file,
the file starts over with a new session. API 3.0 takes only media types
(a file without a video or audio extension fails with
InvalidParameterValue.MediaType in user.vod.error), and has no instant upload.
The others are the older interface:
v4 signs with the account's SecretKey;
ugc holds no SecretKey and asks your signing service for one signature per
file (\fB\-\-ugc\-signer\fR URL or \fB\-\-ugc\-signer\-cmd\fR CMD;
\fBvodfs sign ugc\fR makes one); apply goes through ApplyUpload and object
storage; frontwize uses the frontwize REST API. Choose api3 for an account
of the cloud today; among the older flows, v4 where the machine
may hold the account's key, ugc where it must not (a customer's machine that
gets per-file signatures from your app's server), apply when the account
uses the object-storage integration, frontwize for a frontwize account.
Resume after a crash: v4 and ugc by the parts the service lists, apply and
api3 (while the session's credential lives) by the multipart upload's parts,
frontwize sends the file again.
.PP
In -o, options are separated by commas; \e, is a comma inside a value
(e.g. in ugc_signer_cmd) and \e\e a backslash.
.PP
Upload settings are set on directories and apply to every file committed
below (the nearest directory wins; the mount options
\fB\-\-class\-id\fR, \fB\-\-tags\fR, ... are the defaults):
user.vod.class_id, user.vod.tags (comma-separated, at most 10),
user.vod.procedure, user.vod.transcode, user.vod.screenshot,
user.vod.watermark (1 or 0), user.vod.source_context, and for api3
user.vod.session_context (at most 1000 characters), user.vod.storage_region
(ap-chongqing) and user.vod.expire_time (ISO 8601, 2030-01-01T00:00:00Z).
An invalid value is
refused by setfattr with EINVAL.
.SH OUTAGES
A transient failure (connection refused or reset, DNS, TLS handshake, a
request that moves no byte for \fB\-\-stall\-timeout\fR (30 s), 5xx, negative
codes with canRetry=1, InternalError, rate limits) is retried with capped
exponential backoff and jitter (at most a minute between tries) until it
succeeds, each upload going on from the parts the service holds. While it
waits the file shows user.vod.state waiting, user.vod.error the last error
and the next try, user.vod.waiting_since and user.vod.next_try (seconds
since the epoch); vodfs status says "service unreachable since HH:MM UTC,
N files waiting, next try in S s". The log says once when the service
becomes unreachable and once when it is back. In the default mode a close
rides out an outage for \fB\-\-retry\-for\fR (10 minutes; 0: none;
forever: until it commits), then fails with EIO while the file stays
waiting and commits by itself; in write-back mode uploads retry until they
commit. Permanent failures (credentials refused, an invalid parameter,
staged bytes that no longer match their hashes) are failed at once. A
mount whose endpoint does not answer mounts anyway, with a warning; files
wait until it answers.
.SH COVERS
An image (.jpg, .jpeg, .png) is never uploaded as a media of its own: it
stays in the cache with user.vod.state image, or cover once sent as a
video's cover. A video's cover is the file its user.vod.cover names, else
the image beside it with the same stem (movie.mp4: movie.jpg, movie.jpeg,
movie.png). It is sent when the video commits (so the image may be copied
first): v4 with SmallFileUpload, which also sends an image closed after its
video committed; apply and api3 with ApplyUpload, the storage PUT and
CommitUpload.
ugc and frontwize have no way to send a cover. A cover never fails its
video: over 1 MiB, or refused by the service, the video stays committed and
shows user.vod.cover_error; the image shows failed and user.vod.error, and
vodfs retry on the image tries again.
.SH FILES
.TP
.I $XDG_CACHE_HOME/vodfs
(default ~/.cache/vodfs) the staging cache: cache.db (SQLite) and data/;
vodfs.log when mounted in the background; serve/ holds the embedded
service's data.
.TP
.I $XDG_CONFIG_HOME/vodfs/config.toml
(default ~/.config/vodfs/config.toml) secret_id, secret_key, endpoint;
refused when group or others can read it.
.TP
.I by-id/
at the root of a mount: one read-only entry per committed media, named
after its fileId.
.TP
.I /sbin/mount.fuse.vodfs
the mount(8) helper (installed by scripts/install): mount(8) runs it as
mount.fuse.vodfs SOURCE MOUNTPOINT -o OPTIONS and it runs
vodfs mount -o OPTIONS MOUNTPOINT. SOURCE is none, or the service URL
(taken as endpoint=). fstab line:
none /mnt/vod fuse.vodfs endpoint=http://127.0.0.1:8700,cache=/var/cache/vodfs,_netdev 0 0
.TP
.I http://LISTEN/
of vodfs serve: the media page, every media with its cover, name, fileId,
size, upload time and a player.
.SH ENVIRONMENT
.TP
.B VODFS_SECRET_ID, VODFS_SECRET_KEY
the account used to sign requests (mount) or served (serve).
.TP
.B RUST_LOG
log filter, e.g. vodfs=debug,info.
.TP
.B XDG_CACHE_HOME, XDG_CONFIG_HOME
where the cache and the config file live.
.SH EXIT STATUS
.TP
.B 0
success. vodfs mount in the background exits 0 once the mount is up;
in the foreground, once it is unmounted (fusermount3 -u, SIGTERM, SIGINT)
and the commits in flight were waited for.
.TP
.B 1
any error; the message on stderr (and in the log) names the file, the
action and the service's code and message. vodfs wait exits 1 when any
file failed, naming each; vodfs status exits 1 when there is no vodfs
mount.
.TP
.B 2
a usage error (unknown option, missing argument).
.TP
.B 75
vodfs wait or vodfs retry: --timeout ran out before every file settled
(none failed); files still waiting for the service go on by themselves.
.SH EXAMPLES
.nf
vodfs mount ~/vod
cp holiday.mp4 ~/vod/
getfattr -n user.vod.url ~/vod/holiday.mp4
ls ~/vod/by-id/
vodfs mount --write-back ~/vod && cp *.mp4 ~/vod/ && vodfs wait ~/vod/*.mp4
mount -t fuse.vodfs none /mnt/vod -o endpoint=https://vod2.qcloud.com,cache=/var/cache/vodfs
vodfs serve --listen 127.0.0.1:8700 --data /var/lib/vodfs
fusermount3 -u ~/vod
.fi
.SH SEE ALSO
fusermount3(1), getfattr(1), setfattr(1), mount(8), fstab(5)
"#;

/// Renders the whole page.
pub fn render() -> String {
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone()).date("");
    // Title, name, synopsis, description, and the list of subcommands.
    let _ = man.render_title(&mut out);
    let _ = man.render_name_section(&mut out);
    let _ = man.render_synopsis_section(&mut out);
    let _ = man.render_description_section(&mut out);
    let visible: Vec<_> = cmd
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    out.extend_from_slice(b".SH COMMANDS\n");
    for sub in &visible {
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        out.extend_from_slice(format!(".TP\n.B vodfs {}\n{about}\n", sub.get_name()).as_bytes());
    }
    for sub in visible {
        let name = format!("vodfs {}", sub.get_name());
        let sub = sub.clone().name(name.clone()).bin_name(name.clone());
        let man = clap_mangen::Man::new(sub);
        let mut part = Vec::new();
        let _ = man.render_synopsis_section(&mut part);
        let _ = man.render_description_section(&mut part);
        let _ = man.render_options_section(&mut part);
        let part = String::from_utf8_lossy(&part)
            .replace(".SH SYNOPSIS", &format!(".SH \"{}\"", name.to_uppercase()))
            .replace(".SH DESCRIPTION\n", ".PP\n")
            .replace(".SH OPTIONS", ".SS Options");
        out.extend_from_slice(part.as_bytes());
    }
    out.extend_from_slice(EXTRA.as_bytes());
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/man/vodfs.1");

    #[test]
    fn man_page_is_in_sync_with_the_cli() {
        let fresh = render();
        if std::env::var_os("VODFS_UPDATE_MAN").is_some() {
            std::fs::write(PAGE, &fresh).expect("writing man/vodfs.1");
        }
        let committed = std::fs::read_to_string(PAGE).unwrap_or_default();
        assert!(
            committed == fresh,
            "man/vodfs.1 is out of date: run VODFS_UPDATE_MAN=1 cargo test manpage"
        );
    }

    #[test]
    fn every_option_of_every_subcommand_is_in_the_page() {
        let page = render();
        for sub in Cli::command()
            .get_subcommands()
            .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        {
            assert!(page.contains(&format!("VODFS {}", sub.get_name().to_uppercase())));
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set()) {
                if let Some(long) = arg.get_long() {
                    assert!(
                        page.contains(&format!("\\-\\-{}", long.replace('-', "\\-"))),
                        "--{long} of {} missing from the man page",
                        sub.get_name()
                    );
                }
            }
        }
        for xattr in ["user.vod.url", "user.vod.state", "user.vod.error"] {
            assert!(page.contains(xattr));
        }
    }
}
