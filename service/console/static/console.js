// The console's only script: the live board (Server-Sent Events, then the board fetched
// anew as server-rendered HTML, narrowed by the search), and small form helpers. No build step.
(function () {
  "use strict";

  function searchText() {
    var box = document.getElementById("board-search");
    return box ? box.value.trim() : "";
  }

  function formState(root) {
    // What the person is typing in the board's forms, to survive a refresh.
    var state = {};
    root.querySelectorAll("form").forEach(function (form) {
      var person = form.querySelector("input[name=person_id]");
      var key = form.getAttribute("action") + "|" + (person && person.type === "hidden" ? person.value : "");
      form.querySelectorAll("input[name=reason], select").forEach(function (field) {
        state[key + "|" + field.name] = field.value;
        if (field === document.activeElement) { state.focused = key + "|" + field.name; }
      });
    });
    return { values: state };
  }

  function restoreForms(root, saved) {
    root.querySelectorAll("form").forEach(function (form) {
      var person = form.querySelector("input[name=person_id]");
      var key = form.getAttribute("action") + "|" + (person && person.type === "hidden" ? person.value : "");
      form.querySelectorAll("input[name=reason], select").forEach(function (field) {
        var value = saved.values[key + "|" + field.name];
        if (value !== undefined) { field.value = value; }
        if (saved.values.focused === key + "|" + field.name) { field.focus(); }
      });
    });
  }

  function liveBoard(board) {
    var state = document.getElementById("live-state");
    var busy = false, again = false, source = null;
    board.dataset.refreshes = "0";

    function show(live) {
      state.textContent = live ? state.dataset.live : state.dataset.offline;
      state.classList.toggle("on", live);
    }

    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      var query = searchText();
      var url = board.dataset.board + (query ? "?q=" + encodeURIComponent(query) : "");
      fetch(url, { credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (response.redirected || response.status === 401) { window.location.reload(); return null; }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html === null) { return; }
          var saved = formState(board);
          board.innerHTML = html;  // the service's own escaped HTML
          restoreForms(board, saved);
          board.dataset.refreshes = String(Number(board.dataset.refreshes) + 1);
        })
        .catch(function () { show(false); })
        .then(function () {
          busy = false;
          if (again) { again = false; refresh(); }
        });
    }

    function connect() {
      source = new EventSource(board.dataset.stream);
      source.addEventListener("hello", function () { show(true); refresh(); });
      source.addEventListener("change", refresh);
      source.onerror = function () {
        show(false);
        if (source.readyState === EventSource.CLOSED) {
          // Refused (signed out, or the service answered with an error): try again later;
          // a page of a session that ended goes to the sign-in page.
          source.close();
          window.setTimeout(function () { refresh(); connect(); }, 5000);
        }
      };
    }
    connect();
    var box = document.getElementById("board-search");
    var timer = null;
    box.addEventListener("input", function () {
      // The search runs on the server (a long list is not all on the page): the board is
      // fetched again for it, and the address keeps it for a reload.
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        var query = searchText();
        window.history.replaceState(null, "", window.location.pathname +
                                    (query ? "?q=" + encodeURIComponent(query) : ""));
        refresh();
      }, 250);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var board = document.getElementById("board");
    if (board) { liveBoard(board); }
    document.addEventListener("click", function (event) {
      var pick = event.target.closest ? event.target.closest("button.pick") : null;
      if (!pick) { return; }
      var form = document.getElementById("manual-checkin");
      form.querySelector("select[name=person_id]").value = pick.dataset.person;
      form.querySelector("input[name=reason]").focus();
    });
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form.classList.contains("confirm") && !window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  });
}());
