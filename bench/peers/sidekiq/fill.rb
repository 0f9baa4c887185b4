require_relative "jobs"
workload, n = ARGV[0], Integer(ARGV[1])
Sidekiq.redis { |r| r.set("bench:done", 0) } unless workload == "transform"
(0...n).each_slice(1000) do |ids|
  case workload
  when "transform"
    Sidekiq::Client.push_bulk("class" => TransformJob, "args" => ids.map { |i|
      [{ "id" => i, "username" => "User_1", "email" => "User1@Example.COM",
         "full_name" => "User One", "created_at" => 1700000000000 }] })
  when "sleep"
    Sidekiq::Client.push_bulk("class" => SleepJob, "args" => ids.map { [1000] })
  when "hash"
    Sidekiq::Client.push_bulk("class" => HashJob, "args" => ids.map { |i| ["Secret#{i}x"] })
  end
end
