import { sql, type Kysely } from "kysely";

// Frozen. A batch of chat messages is stored by one function call: one round trip and one
// commit (the notification to the other processes is sent inside it, so it costs no commit of
// its own and is delivered at commit, in commit order).
//
// 1. The batch's rooms are locked in id order (seqs gap-free and committed in order; concurrent
//    batches cannot deadlock).
// 2. A later statement, with a snapshot taken after the locks were granted, sees what the
//    previous holder committed: membership, and an earlier message with the same clientMsgId
//    (looked up through the unique index, one probe per message, whatever the size of history).
// 3. One statement inserts the new messages and advances the rooms; each input gets a status.
// 4. With a channel and an origin, one NOTIFY per room says how far its stream now reaches.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create function anonchat_append_messages(
      p_rooms text[], p_senders integer[], p_logins text[], p_texts text[], p_client_msg_ids text[],
      p_channel text, p_origin text
    )
    returns table (
      ord integer, status text,
      room_id text, seq integer, sender_id integer, sender_login text, text text, client_msg_id text,
      created_at timestamptz, kind text, target_seq integer, subject_id integer, subject_login text,
      edited_at timestamptz, deleted_at timestamptz
    )
    language plpgsql volatile
    as $fn$
    #variable_conflict use_column
    begin
      perform 1 from rooms r where r.id = any(p_rooms) order by r.id for update;

      return query
      with input as (
        select i.room_id, i.sender_id, i.sender_login, i.text, i.client_msg_id, i.ord::integer as ord
        from unnest(p_rooms, p_senders, p_logins, p_texts, p_client_msg_ids)
          with ordinality as i(room_id, sender_id, sender_login, text, client_msg_id, ord)
      ),
      classified as (
        select i.*, r.last_seq,
          exists (select 1 from room_members rm where rm.room_id = i.room_id and rm.user_id = i.sender_id) as member,
          row_number() over (partition by i.room_id, i.sender_id, i.client_msg_id order by i.ord) as nth
        from input i left join rooms r on r.id = i.room_id
      ),
      earlier as (
        select c.ord, m.*
        from classified c
        join messages m on m.room_id = c.room_id and m.sender_id = c.sender_id and m.client_msg_id = c.client_msg_id
        where c.client_msg_id is not null
      ),
      to_store as (
        select c.*, c.last_seq + row_number() over (partition by c.room_id order by c.ord) as new_seq
        from classified c
        where c.last_seq is not null and c.member
          and not exists (select 1 from earlier e where e.ord = c.ord)
          and (c.client_msg_id is null or c.nth = 1)
      ),
      ins as (
        insert into messages (room_id, seq, sender_id, sender_login, text, client_msg_id)
        select s.room_id, s.new_seq, s.sender_id, s.sender_login, s.text, s.client_msg_id from to_store s
        returning messages.*
      ),
      advanced as (
        update rooms set last_seq = a.max_seq, last_activity_at = now()
        from (select s.room_id, max(s.new_seq)::integer as max_seq from to_store s group by s.room_id) a
        where rooms.id = a.room_id
        returning rooms.id
      )
      select c.ord,
        case
          when c.last_seq is null then 'not_found'
          when not c.member then 'not_member'
          when e.ord is not null or (c.client_msg_id is not null and c.nth > 1) then 'duplicate'
          else 'stored'
        end,
        coalesce(e.room_id, stored.room_id, first.room_id),
        coalesce(e.seq, stored.seq, first.seq),
        coalesce(e.sender_id, stored.sender_id, first.sender_id),
        coalesce(e.sender_login, stored.sender_login, first.sender_login),
        coalesce(e.text, stored.text, first.text),
        coalesce(e.client_msg_id, stored.client_msg_id, first.client_msg_id),
        coalesce(e.created_at, stored.created_at, first.created_at),
        coalesce(e.kind, stored.kind, first.kind),
        coalesce(e.target_seq, stored.target_seq, first.target_seq),
        coalesce(e.subject_id, stored.subject_id, first.subject_id),
        coalesce(e.subject_login, stored.subject_login, first.subject_login),
        coalesce(e.edited_at, stored.edited_at, first.edited_at),
        coalesce(e.deleted_at, stored.deleted_at, first.deleted_at)
      from classified c
      left join earlier e on e.ord = c.ord
      left join to_store s on s.ord = c.ord
      left join ins stored on stored.room_id = c.room_id and stored.seq = s.new_seq
      left join ins first on e.ord is null and c.client_msg_id is not null and c.nth > 1 and c.member
        and first.room_id = c.room_id and first.sender_id = c.sender_id and first.client_msg_id = c.client_msg_id
      order by c.ord;

      if p_channel is not null and p_origin is not null then
        perform pg_notify(p_channel, json_build_object('o', p_origin,
          'e', json_build_object('type', 'message', 'roomId', r.id, 'seq', r.last_seq))::text)
        from rooms r where r.id = any(p_rooms);
      end if;
    end
    $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop function anonchat_append_messages(text[], integer[], text[], text[], text[], text, text)`.execute(db);
}
