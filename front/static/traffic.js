// The live traffic view: one EventSource per viewer, a tile per answer.
// Served by front itself (no CDN): the page works offline.
(function () {
  'use strict';
  var MAX_TILES = 240;
  var palette = ['#3b6fd8', '#2e9d5b', '#d9901a', '#8a4fd1', '#1aa3b8', '#c44f9b', '#6b8e23'];
  var known = { '0.1': palette[0], '0.3': palette[1], '0.2': palette[2] };
  var source = null;
  var counts = {};
  var total = 0;
  var $ = function (id) { return document.getElementById(id); };

  function colour(tile) {
    if (!tile.ok) return '#d64545';
    if (!known[tile.label]) known[tile.label] = palette[Object.keys(known).length % palette.length];
    return known[tile.label];
  }

  function render() {
    var rows = Object.keys(counts).sort().map(function (label) {
      var share = (100 * counts[label].n / total).toFixed(1);
      return '<tr data-label="' + label.replace(/"/g, '&quot;') + '"><td><span class="swatch" style="background:' +
        counts[label].colour + '"></span>' + escapeHtml(label) + '</td><td class="count">' + counts[label].n +
        '</td><td class="share">' + share + '%</td></tr>';
    });
    $('stats').querySelector('tbody').innerHTML = rows.join('');
  }

  function escapeHtml(text) {
    return text.replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  // Why a call went where it went: the pod that answered (its name's last part: a ReplicaSet's
  // pods share the rest), Envoy's attempt (x2: retried), an answer no app made (mesh: Envoy's
  // fault, overflow or timeout), and the trace, linked when TRACES_URL is set.
  function add(tile) {
    var c = colour(tile);
    total += 1;
    counts[tile.label] = counts[tile.label] || { n: 0, colour: c };
    counts[tile.label].n += 1;
    var tracesUrl = $('tiles').getAttribute('data-traces-url');
    var el = document.createElement(tracesUrl && tile.trace ? 'a' : 'div');
    if (el.tagName === 'A') {
      el.href = tracesUrl + '/trace/' + encodeURIComponent(tile.trace);
      el.target = '_blank';
      el.rel = 'noopener';
    }
    el.className = 'tile' + (tile.ok ? '' : ' error') + (tile.by === 'mesh' ? ' mesh' : '');
    el.style.background = c;
    el.textContent = tile.ok ? tile.label : (tile.status ? String(tile.status) : '\u00d7');
    var small = document.createElement('span');
    small.className = 'pod';
    small.textContent = tile.by === 'mesh' ? 'mesh' : (tile.pod ? tile.pod.split('-').pop() : '');
    el.appendChild(small);
    if (tile.attempt && tile.attempt > 1) {
      var attempt = document.createElement('span');
      attempt.className = 'attempt';
      attempt.textContent = '\u00d7' + tile.attempt;
      el.appendChild(attempt);
    }
    el.title = '#' + tile.n + ' ' + tile.label + ' in ' + tile.ms + ' ms' +
      (tile.by === 'app' ? ', from ' + tile.pod : tile.by === 'mesh' ? ', made by Envoy, not an app' : '') +
      (tile.attempt ? ', attempt ' + tile.attempt : '') + (tile.trace ? ', trace ' + tile.trace : '');
    el.setAttribute('data-label', tile.label);
    el.setAttribute('data-by', tile.by);
    if (tile.pod) el.setAttribute('data-pod', tile.pod);
    if (tile.attempt) el.setAttribute('data-attempt', String(tile.attempt));
    if (tile.trace) el.setAttribute('data-trace', tile.trace);
    var tiles = $('tiles');
    tiles.insertBefore(el, tiles.firstChild);
    while (tiles.childNodes.length > MAX_TILES) tiles.removeChild(tiles.lastChild);
    render();
  }

  function stop(message) {
    if (source) source.close();
    source = null;
    $('start').disabled = false;
    $('stop').disabled = true;
    $('state').textContent = message || 'stopped';
  }

  function start() {
    stop();
    counts = {};
    total = 0;
    $('tiles').innerHTML = '';
    render();
    var url = '/traffic/stream?backend=' + encodeURIComponent($('backend').value) +
      '&as_user=' + ($('as-user').checked ? '1' : '0');
    source = new EventSource(url);
    $('start').disabled = true;
    $('stop').disabled = false;
    $('state').textContent = 'streaming';
    source.onmessage = function (event) { add(JSON.parse(event.data)); };
    source.onerror = function () {
      // Closed by front (limit reached, too many viewers) or the network: say so, do not hammer.
      stop('stopped: the stream ended (too many viewers, or front restarted). Press Start again.');
    };
  }

  $('start').addEventListener('click', start);
  $('stop').addEventListener('click', function () { stop(); });
  $('as-user').addEventListener('change', function () { if (source) start(); });
  $('backend').addEventListener('change', function () { if (source) start(); });
})();
