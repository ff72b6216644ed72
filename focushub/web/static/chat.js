// Live chat: one WebSocket to /api/v1/realtime (signed in by the page's session cookie),
// subscribed to this room from the last event the page showed, resuming after a drop.
// A drop is not always announced: when the network goes away (the browser says so with its
// "offline" event, or nothing comes back to a ping) the socket is closed on purpose, and a
// new one resumes from the last seq seen, so the gateway replays what was missed.
// The page also keeps, from the room's events: who is online (presence frames, per
// connection), how far each participant has read ("Seen" under one's own latest message),
// the participant list, and earlier messages loaded when scrolled to the top.
(function () {
  var list = document.getElementById("messages");
  if (!list) { return; }
  var room = list.dataset.room;
  var me = list.dataset.me;
  var lastSeq = parseInt(list.dataset.lastSeq || "0", 10);
  var status = document.getElementById("chat-status");
  var typing = document.getElementById("typing");
  var form = document.getElementById("send");
  var text = document.getElementById("chat-text");
  var sendError = document.getElementById("send-error");
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  // request_id -> the text sent, until the server acknowledges it (message.sent) or refuses
  // it (error): the text stays in the box until then, so a refused message is not lost.
  var pending = {};
  // The last message whose answer a dropped connection took with it: sent again unchanged, it
  // keeps its idempotency key, so the server stores it at most once.
  var unconfirmed = null;
  var socket = null;
  var live = false;
  var delay = 500;
  var typingTimer = null;
  var retryTimer = null;
  var pingTimer = null;
  var readTimer = null;
  var PING_EVERY = 25000;  // ms of silence before asking the server for a pong
  var PONG_WITHIN = 10000;  // ms a live connection takes at most to answer
  // user id -> {connection id: true} of the connections online in this room (not ours:
  // the gateway does not send us our own presence).
  var online = {};

  function seqOf(item) { return parseInt(item.id.slice(2), 10); }

  function lastMessageSeq() {
    var item = list.lastElementChild;
    return item ? seqOf(item) : 0;
  }
  // The page marked the room read up to the last message it showed.
  var readUpTo = lastMessageSeq();

  function attachmentPath(url) {
    return "/chat" + url.replace(/^\/api\/v1\/chat\/rooms/, "");
  }

  function person(userId) {
    return document.querySelector('#people li[data-user="' + userId + '"]');
  }

  function show(message) {
    var item = document.getElementById("m-" + message.seq);
    if (!item) {
      item = document.createElement("li");
      item.id = "m-" + message.seq;
      // In seq order, whatever order the events came in.
      var after = null;
      for (var i = list.children.length - 1; i >= 0; i--) {
        if (seqOf(list.children[i]) < message.seq) { after = list.children[i]; break; }
      }
      list.insertBefore(item, after ? after.nextSibling : list.firstChild);
    }
    // A system message ("@carol joined") is the room's, not its subject's: never "mine".
    item.className = "message" + (message.message_type === "system" ? " system" :
      message.sender_id === me ? " mine" : "");
    item.dataset.sender = message.sender_id;
    item.dataset.type = message.message_type;
    if (message.deleted_at) { item.dataset.deleted = "true"; } else { delete item.dataset.deleted; }
    item.textContent = "";
    var who = document.createElement("span");
    who.className = "who";
    // A system message names its people in its own words ("@carol created the room").
    who.textContent = message.message_type === "system" ? "" : (message.sender_username || "");
    var body = document.createElement("span");
    body.className = "text";
    if (message.deleted_at) {
      body.textContent = "(message deleted)";
    } else if (message.file_url && message.message_type === "image") {
      var open = document.createElement("a");
      open.href = attachmentPath(message.file_url);
      var image = document.createElement("img");
      image.className = "attachment";
      image.src = open.href;
      image.alt = message.content || "Image";
      open.appendChild(image);
      body.appendChild(open);
    } else if (message.file_url && message.message_type === "file") {
      var download = document.createElement("a");
      download.className = "file";
      download.href = attachmentPath(message.file_url);
      download.setAttribute("download", "");
      download.textContent = message.content || "Download the file";
      body.appendChild(download);
    } else {
      body.textContent = message.content;
    }
    item.appendChild(who);
    item.appendChild(document.createTextNode(" "));
    item.appendChild(body);
    if (message.sender_id !== me && !message.deleted_at && message.message_type !== "system") {
      // The same "Report" link the page renders (a plain link: its page has the form).
      var report = document.createElement("a");
      report.className = "report";
      report.href = "/report?type=chat_message&id=" + encodeURIComponent(message.id) +
        "&back=" + encodeURIComponent("/chat/" + room);
      report.textContent = "Report";
      var hidden = document.createElement("span");
      hidden.className = "visually-hidden";
      hidden.textContent = " this chat message";
      report.appendChild(hidden);
      item.appendChild(report);
    }
    if (message.sender_id === me && !message.deleted_at && message.message_type !== "system") {
      // The same plain "Delete" form the page renders under one's own messages.
      var remove = document.createElement("form");
      remove.method = "post";
      remove.className = "delete";
      remove.action = "/chat/" + room + "/messages/" + encodeURIComponent(message.id) + "/delete";
      var token = document.createElement("input");
      token.type = "hidden";
      token.name = "csrf_token";
      token.value = csrf;
      var button = document.createElement("button");
      button.type = "submit";
      button.textContent = "Delete";
      var what = document.createElement("span");
      what.className = "visually-hidden";
      what.textContent = " this message";
      button.appendChild(what);
      remove.appendChild(token);
      remove.appendChild(button);
      item.appendChild(remove);
    }
    item.scrollIntoView({block: "nearest"});
  }

  // "Seen" under the caller's own latest message once every other participant's read
  // position has reached it (as the server's is_read says).
  function updateSeen() {
    var mine = null;
    var items = list.querySelectorAll(".message.mine");
    for (var i = items.length - 1; i >= 0; i--) {
      if (items[i].dataset.type !== "system" && !items[i].dataset.deleted) { mine = items[i]; break; }
    }
    var seen = false;
    if (mine) {
      var seq = seqOf(mine);
      var others = document.querySelectorAll("#people li[data-user]:not([data-user='" + me + "'])");
      seen = others.length > 0;
      for (var j = 0; j < others.length; j++) {
        if (parseInt(others[j].dataset.readSeq || "0", 10) < seq) { seen = false; }
      }
    }
    var marks = list.querySelectorAll(".seen");
    for (var k = 0; k < marks.length; k++) {
      if (!seen || marks[k].parentNode !== mine) { marks[k].remove(); }
    }
    if (seen && !mine.querySelector(".seen")) {
      var mark = document.createElement("span");
      mark.className = "seen";
      mark.textContent = "Seen";
      mine.appendChild(mark);
    }
  }

  function renderPresence() {
    var people = document.querySelectorAll("#people li[data-user]");
    for (var i = 0; i < people.length; i++) {
      var id = people[i].dataset.user;
      var here = id === me ? live : Object.keys(online[id] || {}).length > 0;
      people[i].classList.toggle("online", here);
      people[i].querySelector(".presence").textContent = here ? "online" : "";
    }
  }

  function presence(frame) {
    var connections = online[frame.user_id] || (online[frame.user_id] = {});
    if (frame.status === "online") {
      connections[frame.connection_id] = true;
    } else {
      delete connections[frame.connection_id];
    }
    renderPresence();
  }

  function readMoved(data) {
    var item = person(data.user_id);
    if (item && data.last_read_seq > parseInt(item.dataset.readSeq || "0", 10)) {
      item.dataset.readSeq = String(data.last_read_seq);
    }
    updateSeen();
  }

  function reloadPeople() {
    if (!window.htmx) { return; }
    htmx.ajax("GET", "/chat/" + room + "/people", {target: "#people", swap: "outerHTML"})
      .then(function () { renderPresence(); updateSeen(); });
  }

  // Messages that arrive while the page is in view are read: tell the server (at most
  // once a second), so the sender sees "Seen".
  function markRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(function () {
      var seq = lastMessageSeq();
      if (document.visibilityState !== "visible" || seq <= readUpTo) { return; }
      readUpTo = seq;
      fetch("/chat/" + room + "/read", {
        method: "POST", credentials: "same-origin",
        headers: {"X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded"},
        body: "seq=" + seq
      }).catch(function () { readUpTo = 0; });
    }, 1000);
  }
  document.addEventListener("visibilitychange", markRead);

  // Any frame proves the connection alive; after PING_EVERY ms of silence a ping must be
  // answered within PONG_WITHIN ms, or the socket is given up and replaced.
  function heartbeat(ws) {
    clearTimeout(pingTimer);
    pingTimer = setTimeout(function () {
      if (ws !== socket) { return; }
      if (ws.readyState !== WebSocket.OPEN) { drop(ws); return; }  // never opened
      ws.send(JSON.stringify({type: "ping"}));
      pingTimer = setTimeout(function () { drop(ws); }, PONG_WITHIN);
    }, PING_EVERY);
  }

  // Stop using this socket now (its close event may come much later, or never).
  function drop(ws) {
    if (ws !== socket) { return; }
    socket = null;
    clearTimeout(pingTimer);
    ws.onmessage = null;
    ws.onclose = null;
    ws.close();
    lost();
  }

  // What the server said about a message it refused, in the alert under the box.
  function refused(message) {
    sendError.textContent = message || "The message was not sent.";
    sendError.hidden = false;
  }

  function clearRefusal() {
    sendError.hidden = true;
    sendError.textContent = "";
    text.removeAttribute("aria-invalid");  // a refusal the page came with (sent without us)
  }

  // The server's answer to a message.send of ours: the text leaves the box only once the
  // message is stored (unless something else was typed meanwhile).
  function answered(frame) {
    var sent = pending[frame.request_id];
    delete pending[frame.request_id];
    if (frame.type === "message.sent") {
      if (text.value === sent) { text.value = ""; }
      clearRefusal();
      if (frame.data && frame.data.room_id === room) { show(frame.data); updateSeen(); }
    } else {
      refused(frame.message);
    }
  }

  function lost() {
    // Whether an unanswered message got through is unknown: its text is still in the box,
    // to be sent again (the gateway's replay shows it if it did arrive).
    var keys = Object.keys(pending);
    if (keys.length) {
      unconfirmed = {key: keys[0], text: pending[keys[0]]};
      pending = {};
      refused("The connection dropped before the message was confirmed. If it does not " +
              "appear above once reconnected, send it again.");
    }
    // Who is online is unknown until the next subscription brings the others' answers.
    live = false;
    online = {};
    renderPresence();
    status.textContent = navigator.onLine === false
      ? "Connection lost. Reconnecting when the network is back…" : "Connection lost. Reconnecting…";
    clearTimeout(retryTimer);
    if (navigator.onLine === false) { return; }  // the "online" event reconnects
    retryTimer = setTimeout(connect, delay);
    delay = Math.min(delay * 2, 10000);
  }

  function connect() {
    clearTimeout(retryTimer);
    if (socket) { return; }
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var ws = new WebSocket(scheme + location.host + "/api/v1/realtime");
    socket = ws;
    heartbeat(ws);
    ws.onmessage = function (event) {
      heartbeat(ws);
      var frame = JSON.parse(event.data);
      if (frame.type === "ready") {
        ws.send(JSON.stringify({type: "subscribe", room_id: room, last_seq: lastSeq}));
      } else if (frame.type === "subscribed") {
        status.textContent = "Live";
        delay = 500;
        live = true;
        renderPresence();
      } else if (frame.room_id === room && typeof frame.seq === "number") {
        lastSeq = Math.max(lastSeq, frame.seq);
        if (frame.type.indexOf("message.") === 0 && frame.data) {
          show(frame.data);
          typing.textContent = "";
          updateSeen();
          if (frame.data.sender_id !== me) { markRead(); }
        } else if (frame.type === "read.updated" && frame.data) {
          readMoved(frame.data);
        } else if (frame.type.indexOf("participant.") === 0) {
          reloadPeople();
        }
      } else if (frame.type === "presence" && frame.room_id === room) {
        presence(frame);
      } else if (frame.type === "typing" && frame.room_id === room && frame.user_id !== me) {
        var who = person(frame.user_id);
        typing.textContent = (who ? "@" + who.dataset.username : "Someone") + " is typing…";
        clearTimeout(typingTimer);
        typingTimer = setTimeout(function () { typing.textContent = ""; }, 3000);
      } else if ((frame.type === "message.sent" || frame.type === "error") &&
                 frame.request_id && pending.hasOwnProperty(frame.request_id)) {
        answered(frame);
      } else if (frame.type === "resync") {
        location.reload();
      }
    };
    ws.onclose = function () {
      if (ws !== socket) { return; }
      socket = null;
      clearTimeout(pingTimer);
      lost();
    };
  }

  window.addEventListener("offline", function () { if (socket) { drop(socket); } });
  window.addEventListener("online", function () { delay = 500; connect(); });

  form.addEventListener("submit", function (event) {
    if (!socket || socket.readyState !== WebSocket.OPEN || !text.value.trim()) { return; }
    event.preventDefault();
    if (Object.keys(pending).length) { return; }  // one at a time: no double send
    var key = (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : String(Date.now());
    if (unconfirmed && unconfirmed.text === text.value) { key = unconfirmed.key; }
    unconfirmed = null;
    pending[key] = text.value;
    clearRefusal();
    socket.send(JSON.stringify({type: "message.send", room_id: room, content: text.value,
                                idempotency_key: key, request_id: key}));
  });
  var lastTyping = 0;
  text.addEventListener("input", function () {
    var now = Date.now();
    if (socket && socket.readyState === WebSocket.OPEN && now - lastTyping > 2000) {
      lastTyping = now;  // at most one typing signal every two seconds
      socket.send(JSON.stringify({type: "typing", room_id: room}));
    }
  });

  // Earlier messages: the "Load earlier messages" link (htmx puts them above the shown
  // ones) is followed by itself once it scrolls into view. What was on screen stays where
  // it was: the first message shown before the swap keeps its place in the window.
  var anchor = null;
  var anchorTop = 0;
  var linkHadFocus = false;
  var loading = false;
  var watcher = null;

  function watchOlder() {
    var link = document.querySelector("#older a");
    if (!watcher || !link) { return; }
    watcher.observe(link);
  }

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target !== list) { return; }
    anchor = list.firstElementChild;
    anchorTop = anchor ? anchor.getBoundingClientRect().top : 0;
    linkHadFocus = !!(document.activeElement && document.activeElement.closest("#older"));
  });
  document.body.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target !== list) { return; }
    if (anchor) { window.scrollBy(0, anchor.getBoundingClientRect().top - anchorTop); }
    anchor = null;
    var next = document.querySelector("#older a") || document.querySelector("#older span");
    if (linkHadFocus && next) {
      if (!next.hasAttribute("href")) { next.tabIndex = -1; }
      next.focus({preventScroll: true});
    }
    loading = false;
    updateSeen();
    watchOlder();
  });
  document.body.addEventListener("htmx:responseError", function () { loading = false; });

  if (!location.hash) {
    document.getElementById("end").scrollIntoView({block: "end"});
  }
  if ("IntersectionObserver" in window && window.htmx) {
    watcher = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        if (!entry.isIntersecting || loading || !entry.target.isConnected) { return; }
        watcher.unobserve(entry.target);
        loading = true;
        entry.target.click();
      });
    });
    watchOlder();
  }

  updateSeen();
  connect();
})();
