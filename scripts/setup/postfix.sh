#!/usr/bin/env bash
# Installs Debian's Postfix (and swaks, for debugging by hand) for the e2e tests and the benchmark,
# which run their OWN Postfix instances from temp dirs (test/postfix/). The machine's system
# Postfix is never configured or started: debconf is preseeded to "No configuration", so the
# package writes no /etc/postfix/main.cf and its init script has nothing to start. Idempotent,
# non-interactive; an existing system configuration is left exactly as it is.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

if ! pkg_installed postfix; then
  # Preseed only when the package is not there yet, so an admin's earlier answers are kept.
  if ! as_root debconf-show postfix 2>/dev/null | grep -q 'main_mailer_type'; then
    log "preseeding debconf: postfix/main_mailer_type = No configuration"
    printf '%s\n' \
      'postfix postfix/main_mailer_type select No configuration' \
      'postfix postfix/mailname string localhost.localdomain' |
      as_root debconf-set-selections
  fi
fi
apt_install postfix swaks

# What the harness relies on: the daemons, smtp-sink, the users the daemons run as.
for f in /usr/sbin/postfix /usr/sbin/postconf /usr/sbin/postqueue /usr/sbin/smtp-sink /usr/lib/postfix/sbin/master; do
  [ -x "$f" ] || { log "missing $f after installing postfix"; exit 1; }
done
getent passwd postfix >/dev/null || { log "user postfix missing"; exit 1; }
getent group postdrop >/dev/null || { log "group postdrop missing"; exit 1; }
log "postfix $(postconf -d -h mail_version) ready (system instance untouched)"
