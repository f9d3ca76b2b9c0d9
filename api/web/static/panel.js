// Technician panel: the live overview (server-sent events) and in-place
// actions. No dependencies; the pages work without it (forms post and
// redirect), it only spares the floor a reload.
(function () {
  'use strict';

  var live = document.getElementById('live');
  var status = document.getElementById('live-status');
  var flash = document.getElementById('flash');

  function setStatus(on) {
    if (!status) return;
    status.dataset.state = on ? 'on' : 'off';
    status.textContent = on ? status.dataset.textOn : status.dataset.textOff;
  }

  function showMessage(text, bad) {
    if (!flash || !text) return;
    flash.textContent = text;
    flash.className = bad ? 'error' : 'flash';
  }

  // The live overview. EventSource reconnects by itself after a network
  // error (the server asks for 2 s); when the server refused the stream
  // (session gone, too many views) it stops, and we ask whether the session
  // still holds before opening a new one: to the login page if not.
  var source = null;
  var delay = 2000;

  function connect() {
    source = new EventSource('/panel/events');
    source.addEventListener('open', function () { delay = 2000; setStatus(true); });
    source.addEventListener('overview', function (e) {
      live.innerHTML = e.data;
      setStatus(true);
    });
    source.addEventListener('logout', function () {
      source.close();
      window.location.assign('/panel/login?next=' + encodeURIComponent(location.pathname));
    });
    source.addEventListener('error', function () {
      setStatus(false);
      if (source.readyState === EventSource.CLOSED) {
        source.close();
        setTimeout(check, delay);
        delay = Math.min(delay * 2, 30000);
      }
    });
  }

  function check() {
    fetch('/panel/ping', { credentials: 'same-origin', headers: { 'Accept': 'application/json' } })
      .then(function (r) {
        if (r.status === 401) {
          window.location.assign('/panel/login?next=' + encodeURIComponent(location.pathname));
        } else {
          connect();
        }
      })
      .catch(function () {
        setTimeout(check, delay);
        delay = Math.min(delay * 2, 30000);
      });
  }

  if (live && window.EventSource) connect();

  // Forms marked data-confirm ask first; forms marked data-live post in
  // place (the live overview shows the outcome).
  document.addEventListener('submit', function (ev) {
    var form = ev.target;
    if (!(form instanceof HTMLFormElement)) return;
    var question = form.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      ev.preventDefault();
      return;
    }
    if (!form.hasAttribute('data-live')) return;
    ev.preventDefault();
    var data = new FormData(form);
    var buttons = form.querySelectorAll('button');
    buttons.forEach(function (b) { b.disabled = true; });
    // getAttribute: a field named "action" would shadow form.action.
    fetch(form.getAttribute('action'), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'X-CSRF-Token': data.get('csrf') || '', 'Accept': 'application/json' },
      body: new URLSearchParams(data)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (body) {
        if (r.status === 401) {
          window.location.assign('/panel/login');
          return;
        }
        if (!r.ok) {
          showMessage((body.error && body.error.message) || ('HTTP ' + r.status), true);
        } else {
          showMessage(body.message, false);
        }
      });
    }).catch(function () {
      showMessage(status ? status.dataset.textOff : 'offline', true);
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });
})();
