require_relative "worker"
n = Integer(ARGV[0])
(0...n).each_slice(1000) do |ids|
  Sidekiq::Client.push_bulk("class" => TransformJob, "args" => ids.map { |i|
    [{ "id" => i, "username" => "User_1", "email" => "User1@Example.COM",
       "full_name" => "User One", "created_at" => 1700000000000 }] })
end
