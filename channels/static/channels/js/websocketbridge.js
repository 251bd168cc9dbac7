/*
 * websocketbridge.js — the Channels 1 JavaScript client (same API as the django-channels 1.x bundle).
 *
 *   var bridge = new channels.WebSocketBridge();
 *   bridge.connect('/ws/');                 // or a full ws:// / wss:// URL; defaults to the page path
 *   bridge.listen(function (action, stream) { ... });          // frames without a stream
 *   bridge.demultiplex('mystream', function (action, stream) { ... });
 *   bridge.send({prop1: 'value1'});
 *   bridge.stream('mystream').send({prop1: 'value1'});        // {"stream": ..., "payload": ...}
 *   bridge.socket.addEventListener('open', function () { ... });
 *
 * Frames are JSON. A frame with a "stream" key is a multiplexed {"stream", "payload"} frame (the
 * format of WebsocketMultiplexer / WebsocketBinding) and goes to the callback registered for that
 * stream; any other frame goes to the listen() callback. The socket reconnects by itself, waiting
 * minReconnectionDelay * reconnectionDelayGrowFactor^n (capped at maxReconnectionDelay, with
 * jitter) between attempts; messages sent while it is not open are queued (up to maxQueuedMessages)
 * and sent, in order, once it opens. close() stops reconnecting.
 *
 * Works in browsers (global `channels`) and in CommonJS (module.exports), ES5 only.
 */
(function (root, factory) {
  'use strict';
  var api = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  } else {
    root.channels = root.channels || {};
    root.channels.WebSocketBridge = api.WebSocketBridge;
    root.channels.ReconnectingWebSocket = api.ReconnectingWebSocket;
  }
}(typeof self !== 'undefined' ? self : this, function () {
  'use strict';

  var DEFAULTS = {
    constructor: null,              // WebSocket implementation (default: the global WebSocket)
    minReconnectionDelay: 1000,     // ms before the first reconnection attempt
    maxReconnectionDelay: 10000,    // ms, cap of the backoff
    reconnectionDelayGrowFactor: 1.3,
    connectionTimeout: 4000,        // ms an attempt may take before it is abandoned
    maxRetries: Infinity,
    maxQueuedMessages: 100,
    debug: false
  };

  function extend(target, source) {
    for (var key in source) {
      if (Object.prototype.hasOwnProperty.call(source, key) && source[key] !== undefined) {
        target[key] = source[key];
      }
    }
    return target;
  }

  /* A WebSocket that reconnects with backoff; EventTarget-like, with on<event> properties too. */
  function ReconnectingWebSocket(url, protocols, options) {
    this.url = url;
    this.protocols = protocols;
    this.options = extend(extend({}, DEFAULTS), options || {});
    this.retries = 0;
    this.readyState = 0;
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this._listeners = {open: [], message: [], close: [], error: []};
    this._queue = [];
    this._closedByUser = false;
    this._ws = null;
    this._timer = null;
    this._connectTimer = null;
    this._open();
  }

  ReconnectingWebSocket.CONNECTING = 0;
  ReconnectingWebSocket.OPEN = 1;
  ReconnectingWebSocket.CLOSING = 2;
  ReconnectingWebSocket.CLOSED = 3;

  ReconnectingWebSocket.prototype._log = function () {
    if (this.options.debug && typeof console !== 'undefined') {
      console.log.apply(console, ['WebSocketBridge:'].concat(Array.prototype.slice.call(arguments)));
    }
  };

  ReconnectingWebSocket.prototype._impl = function () {
    var Impl = this.options.constructor || (typeof WebSocket !== 'undefined' ? WebSocket : null);
    if (!Impl) {
      throw new Error('No WebSocket implementation: pass options.constructor');
    }
    return Impl;
  };

  ReconnectingWebSocket.prototype._delay = function () {
    var o = this.options;
    var delay = o.minReconnectionDelay * Math.pow(o.reconnectionDelayGrowFactor, Math.max(0, this.retries - 1));
    delay = Math.min(delay, o.maxReconnectionDelay);
    // Up to 20 % jitter so a restarted server is not hit by every client at the same instant.
    return Math.round(delay * (0.8 + Math.random() * 0.2));
  };

  ReconnectingWebSocket.prototype._open = function () {
    var self = this;
    var Impl = this._impl();
    this.readyState = 0;
    this._log('connecting to', this.url, 'attempt', this.retries + 1);
    var ws = this.protocols ? new Impl(this.url, this.protocols) : new Impl(this.url);
    this._ws = ws;
    this._connectTimer = setTimeout(function () {
      self._log('connection timeout');
      self._lost(ws, {type: 'close', code: 1006, reason: 'connection timeout', wasClean: false});
    }, this.options.connectionTimeout);
    ws.onopen = function (event) {
      clearTimeout(self._connectTimer);
      self.retries = 0;
      self.readyState = 1;
      self._emit('open', event);
      self._flush();
    };
    ws.onmessage = function (event) { self._emit('message', event); };
    ws.onerror = function (event) {
      self._emit('error', event);
      // Some implementations (Node's undici) report a refused connection with "error" only and
      // never "close": treat an error before the socket opened as the end of this attempt.
      if (self._ws === ws && self.readyState === 0) {
        self._lost(ws, {type: 'close', code: 1006, reason: 'connection failed', wasClean: false});
      }
    };
    ws.onclose = function (event) { self._lost(ws, event); };
  };

  /* The connection `ws` ended (once per connection): emit close, then reconnect unless closed by the user. */
  ReconnectingWebSocket.prototype._lost = function (ws, event) {
    var self = this;
    if (this._ws !== ws) { return; }
    clearTimeout(this._connectTimer);
    this._ws = null;
    ws.onopen = ws.onmessage = ws.onerror = ws.onclose = null;
    try { ws.close(); } catch (e) { /* already closed */ }
    this.readyState = 3;
    this._emit('close', event);
    if (this._closedByUser) { return; }
    if (this.retries >= this.options.maxRetries) {
      this._log('giving up after', this.retries, 'retries');
      return;
    }
    this.retries += 1;
    this.readyState = 0;
    var delay = this._delay();
    this._log('reconnecting in', delay, 'ms');
    this._timer = setTimeout(function () { self._timer = null; self._open(); }, delay);
  };

  ReconnectingWebSocket.prototype._emit = function (type, event) {
    var handler = this['on' + type];
    if (typeof handler === 'function') { handler.call(this, event); }
    var listeners = this._listeners[type].slice();
    for (var i = 0; i < listeners.length; i++) { listeners[i].call(this, event); }
  };

  ReconnectingWebSocket.prototype._flush = function () {
    while (this._queue.length && this._ws && this.readyState === 1) {
      this._ws.send(this._queue.shift());
    }
  };

  ReconnectingWebSocket.prototype.addEventListener = function (type, listener) {
    if (this._listeners[type] && this._listeners[type].indexOf(listener) < 0) {
      this._listeners[type].push(listener);
    }
  };

  ReconnectingWebSocket.prototype.removeEventListener = function (type, listener) {
    if (this._listeners[type]) {
      this._listeners[type] = this._listeners[type].filter(function (l) { return l !== listener; });
    }
  };

  /* Send now when open; otherwise queue (the oldest message is dropped when the queue is full). */
  ReconnectingWebSocket.prototype.send = function (data) {
    if (this._ws && this.readyState === 1) {
      this._ws.send(data);
      return;
    }
    if (this._closedByUser) {
      throw new Error('WebSocketBridge: send() after close()');
    }
    if (this._queue.length >= this.options.maxQueuedMessages) { this._queue.shift(); }
    this._queue.push(data);
  };

  /* Close for good (no reconnection). */
  ReconnectingWebSocket.prototype.close = function (code, reason) {
    this._closedByUser = true;
    if (this._timer) { clearTimeout(this._timer); this._timer = null; }
    if (this._ws) {
      this.readyState = 2;
      this._ws.close(code || 1000, reason);
    } else {
      this.readyState = 3;
    }
  };

  /* Drop the current connection and reconnect (e.g. after a network change). */
  ReconnectingWebSocket.prototype.reconnect = function () {
    this._closedByUser = false;
    if (this._ws) { this._ws.close(); } else if (!this._timer) { this._open(); }
  };

  function defaultUrl() {
    if (typeof window === 'undefined' || !window.location) {
      throw new Error('WebSocketBridge.connect() needs a URL outside a browser');
    }
    var scheme = window.location.protocol === 'https:' ? 'wss://' : 'ws://';
    return scheme + window.location.host + window.location.pathname;
  }

  function absoluteUrl(url) {
    if (url === undefined || url === null) { return defaultUrl(); }
    if (url.charAt(0) === '/' && url.charAt(1) !== '/') {
      var base = defaultUrl();
      return base.slice(0, base.indexOf('/', base.indexOf('//') + 2)) + url;
    }
    return url;
  }

  /* The Channels 1 bridge: JSON frames, multiplexed streams, a reconnecting socket. */
  function WebSocketBridge(options) {
    this.socket = null;
    this.streams = {};
    this.default_cb = null;
    this.options = extend({}, options || {});
  }

  WebSocketBridge.prototype.connect = function (url, protocols, options) {
    var self = this;
    var settings = extend(extend({}, this.options), options || {});
    this.socket = new ReconnectingWebSocket(absoluteUrl(url), protocols, settings);
    this.socket.addEventListener('message', function (event) { self._dispatch(event); });
    return this.socket;
  };

  WebSocketBridge.prototype._dispatch = function (event) {
    var msg;
    try {
      msg = JSON.parse(event.data);
    } catch (e) {
      if (this.options.debug && typeof console !== 'undefined') { console.error('WebSocketBridge: bad JSON', event.data); }
      return;
    }
    if (msg !== null && typeof msg === 'object' && msg.stream !== undefined) {
      var streamCb = this.streams[msg.stream];
      if (streamCb) { streamCb(msg.payload, msg.stream); }
    } else if (this.default_cb) {
      this.default_cb(msg, null);
    }
  };

  /* cb(action, stream) for every frame that is not multiplexed. */
  WebSocketBridge.prototype.listen = function (cb) {
    this.default_cb = cb;
  };

  /* cb(payload, stream) for the frames of one stream. */
  WebSocketBridge.prototype.demultiplex = function (stream, cb) {
    this.streams[stream] = cb;
  };

  WebSocketBridge.prototype.send = function (msg) {
    this._socket().send(JSON.stringify(msg));
  };

  WebSocketBridge.prototype.stream = function (stream) {
    var self = this;
    return {
      send: function (action) {
        self._socket().send(JSON.stringify({stream: stream, payload: action}));
      }
    };
  };

  WebSocketBridge.prototype._socket = function () {
    if (!this.socket) { throw new Error('WebSocketBridge: call connect() first'); }
    return this.socket;
  };

  return {WebSocketBridge: WebSocketBridge, ReconnectingWebSocket: ReconnectingWebSocket};
}));
